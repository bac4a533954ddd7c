// Browser tests of the playground: `okta-normalizer web` serves web-demo/dist on 127.0.0.1 (a
// free port), and playwright-core drives Debian's chromium against it. Build the page first
// (./scripts/web) and the binary (cargo build); ./scripts/test does both.
//
//   OKTA_NORMALIZER_BIN  the binary (default: target/debug/okta-normalizer)
//   CHROMIUM             the browser (default: /usr/bin/chromium)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const dist = join(repo, 'web-demo/dist');
const bin = process.env.OKTA_NORMALIZER_BIN || join(repo, 'target/debug/okta-normalizer');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const results = join(repo, 'web-demo/test-results');
const goldenDir = join(repo, 'tests/cases/normalize');
const INGESTED = '2026-11-21T00:00:00.000Z';

let server;
let base;
let browser;
let page;
const external = [];
const pageErrors = [];

/** Starts `okta-normalizer web` on a free port and resolves to its URL. */
function startServer() {
  return new Promise((resolveUrl, reject) => {
    const child = spawn(bin, ['web', '--listen', '127.0.0.1:0', '--dir', dist], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`okta-normalizer web did not start in 20 s: ${out}${err}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/playground at (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ child, url: m[1] });
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`okta-normalizer web exited with ${code}: ${err}`));
    });
  });
}

/** Waits until the summary line matches `pattern` (a run may still be on its way), and returns it. */
async function summary(pattern) {
  await page.waitForFunction(
    ([source, flags]) => new RegExp(source, flags).test(document.getElementById('summary').textContent),
    [pattern.source, pattern.flags],
  );
  return page.textContent('#summary');
}

/** Empties the rule box (and lets the run that starts finish), so each test starts alike. */
async function clearRule() {
  if ((await page.inputValue('#rule')) !== '') {
    await page.click('#clear-rule');
    await summary(/^(?!Normalizing)/);
  }
}

describe('the browser playground', () => {
  before(async () => {
    mkdirSync(results, { recursive: true });
    ({ child: server, url: base } = await startServer());
    browser = await chromium.launch({
      executablePath: browserPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) external.push(r.url());
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(base);
    await page.waitForFunction(() => window.playground !== undefined);
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  test('a sample gives its ECS document and the mapping table', async () => {
    await page.click('text=Super admin granted');
    await summary(/^1 event from a single LogEvent: 1 normalized, 0 failed/);
    const doc = JSON.parse(await page.textContent('#document'));
    assert.equal(doc.event.action, 'user.account.privilege.grant');
    assert.equal(doc.client.ip, '198.51.100.23');
    assert.equal(doc.event.ingested.length > 0, true);
    // The mapping table: Okta source → ECS field.
    await page.waitForSelector('#mapping-table');
    const rows = await page.$$eval('#mapping-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    const row = (field) => rows.find((r) => r[1] === field);
    assert.deepEqual(row('client.ip').slice(0, 3), ['client.ipAddress', 'client.ip', '"198.51.100.23"']);
    assert.equal(row('client.ip')[3], 'copied');
    assert.equal(row('user.name')[0], 'actor.alternateId');
    assert.match(row('event.category[0]')[3], /^derived/);
    assert.equal(row('organization.id')[0], 'tenant id');
    assert.equal(rows.filter((r) => r[3].startsWith('unknown')).length, 0, 'every field has a known origin');
    // The built-in pack fires on a super-admin grant, with severity, tactic and matched fields.
    const alerts = await page.textContent('#alerts-table');
    assert.match(alerts, /Admin privilege granted/i);
    assert.match(alerts, /Privilege Escalation/);
    assert.match(alerts, /eventType = user\.account\.privilege\.grant/);
  });

  test('a pasted rule is checked and fires on the pasted events', async () => {
    await clearRule();
    await page.click('#sample-rule');
    await page.waitForSelector('#rule-status .ok');
    await page.click('#test-rule');
    await page.waitForFunction(() => (document.getElementById('alerts-table')?.textContent || '').includes('your rule'));
    const row = await page.$eval('#alerts-table tbody tr:has(.yours)', (tr) => tr.textContent);
    assert.match(row, /Super administrator granted/);
    assert.match(row, /high/);
    assert.match(row, /Privilege Escalation/);
    assert.match(row, /debugContext\.debugData\.privilegeGranted = Super administrator/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(results, 'playground.png'), fullPage: false });
  });

  test('a rule with an error shows its line and column', async () => {
    const broken = readFileSync(join(repo, 'web-demo/tests/broken-rule.yml'), 'utf8');
    await page.fill('#rule', broken);
    await page.waitForSelector('#rule-status .error');
    const status = await page.textContent('#rule-status');
    assert.match(status, /line 13, column 32: R009 condition refers to 'allowlist', which is not defined/);
    // Running with it says the rules could not be loaded, and lists the same problem.
    await page.click('#test-rule');
    await summary(/could not be loaded/);
    assert.match(await page.textContent('#errors'), /your-rule\.yml:13:32 \(rule playground_broken_rule\): R009/);
    await clearRule();
  });

  test('malformed JSON is reported with its position', async () => {
    await clearRule();
    await page.fill('#input', '{"uuid": oops}');
    await summary(/^1 event from a single LogEvent: 0 normalized, 1 failed/);
    const errors = await page.textContent('#errors');
    assert.match(errors, /Line 1: D001 invalid JSON at line 1 column 10: expected value/);
    const doc = JSON.parse(await page.textContent('#document'));
    assert.equal(doc.event.kind, 'pipeline_error');
    await page.screenshot({ path: join(results, 'playground-error.png') });
  });

  test('every delivery shape is read', async () => {
    for (const [shape, phrase] of [['api-page', 'an API page'], ['ndjson', 'NDJSON'], ['event-hook', 'an event-hook delivery'], ['eventbridge', 'NDJSON']]) {
      await page.click(`[data-batch="${shape}"]`);
      await summary(new RegExp(`^6 events from ${phrase}: 6 normalized, 0 failed`));
    }
  });

  test('the page output equals the component output byte for byte, for every golden input', async () => {
    const files = readdirSync(goldenDir).filter((f) => f.endsWith('.json')).sort();
    assert.ok(files.length > 50);
    const run = promisify(execFile);
    // The CLI runs share the compiled-component cache of the CLI tests.
    const cli = async (args, input) => {
      const child = run(bin, ['normalize', '--ingested', INGESTED, '--tenant', 'acme.okta.com', '--tenant-domain',
        'acme.okta.com', ...args], {
        env: { ...process.env, OKTA_NORMALIZER_CACHE_DIR: join(repo, 'target/wasmtime-cache') },
        maxBuffer: 1 << 26,
      });
      if (input !== undefined) child.child.stdin.end(input);
      // Exit status 1 means some event failed; the output is still complete.
      const { stdout } = await child.catch((e) => (e.code === 1 ? e : Promise.reject(e)));
      return stdout;
    };
    const web = (text, extra = {}) => page.evaluate(([t, ingested, x]) => window.playground
      .normalize(t, { ingested, tenant: 'acme.okta.com', tenantDomain: 'acme.okta.com', ...x }), [text, INGESTED, extra]);

    // Each golden file as it is (one LogEvent each), without rules: one CLI run reads them all,
    // each file on its own, so its output is one document per file, in order.
    const expected = await cli(['--no-builtin-rules', ...files.map((f) => join(goldenDir, f))]);
    let pageOut = '';
    for (const f of files) {
      pageOut += (await web(readFileSync(join(goldenDir, f), 'utf8'), { builtinRules: false })).ndjson;
    }
    assert.equal(expected.split('\n').length - 1, files.length);
    const want = expected.split('\n');
    pageOut.split('\n').forEach((line, i) => assert.equal(line, want[i], files[i]));
    assert.equal(pageOut, expected);

    // All of them as one NDJSON batch with the built-in rules: the documents and every alert.
    const ndjson = files.map((f) => JSON.stringify(JSON.parse(readFileSync(join(goldenDir, f), 'utf8')))).join('\n') + '\n';
    const withRules = await cli(['-'], ndjson);
    const fromPage = await web(ndjson);
    assert.ok(fromPage.result.alerts.length > 10, `only ${fromPage.result.alerts.length} alerts`);
    assert.equal(fromPage.ndjson, withRules);
    console.log(`parity: ${files.length} golden inputs one by one, and as one batch with ${fromPage.result.alerts.length} ` +
      'alerts: the page output is identical to the component\'s');
  });

  test('1000 events in the page, and what is shipped', async () => {
    const files = readdirSync(goldenDir).filter((f) => f.endsWith('.json')).sort();
    const events = files.map((f) => JSON.parse(readFileSync(join(goldenDir, f), 'utf8')));
    const lines = [];
    for (let i = 0; i < 1000; i++) {
      const e = structuredClone(events[i % events.length]);
      e.uuid = `${e.uuid || 'no-uuid'}-${i}`;
      lines.push(JSON.stringify(e));
    }
    const input = lines.join('\n') + '\n';
    const timing = await page.evaluate(async (text) => {
      await window.playground.normalize(text, { format: 'ndjson' }); // warm-up
      const runs = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = await window.playground.normalize(text, { format: 'ndjson' });
        runs.push({ total: performance.now() - t0, inWorker: r.ms, events: r.result.outcomes.length, alerts: r.result.alerts.length });
      }
      return runs;
    }, input);
    for (const t of timing) assert.equal(t.events, 1000);
    const best = timing.reduce((a, b) => (a.total < b.total ? a : b));
    const wasm = statSync(join(dist, 'pkg/okta_normalizer_web_bg.wasm')).size;
    console.log(`1000 events normalized in the page: ${best.total.toFixed(1)} ms round trip ` +
      `(${best.inWorker.toFixed(1)} ms in the worker, built-in rules on, ${best.alerts} alerts); ` +
      `shipped .wasm: ${wasm} bytes (${(wasm / 1024 / 1024).toFixed(2)} MiB)`);
  });

  test('the page made no request to any other host and threw nothing', () => {
    assert.deepEqual(external, []);
    assert.deepEqual(pageErrors, []);
  });
});
