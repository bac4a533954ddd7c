// The page: reads the input and options, asks the worker (through api.js), and shows the result.
// No logic of its own: everything shown comes from the core.
import { createPlayground } from './api.js';
import { SAMPLES, SAMPLE_RULE, sampleBatch, sampleEvent } from './samples.js';

const playground = createPlayground();
// The tests drive the page through the same API.
window.playground = playground;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const c of children) node.append(c);
  return node;
};

// Inputs above this size run on a button press, not on every keystroke.
const AUTO_LIMIT = 200_000;
const RULE_NAME = 'your-rule.yml';

let current = null; // {result, ndjson, ms, ruleLoaded}
let runSeq = 0;

$('ingested').value = new Date().toISOString();

function options() {
  const rule = $('rule').value.trim();
  return {
    format: $('format').value,
    ingested: $('ingested').value.trim(),
    tenant: $('tenant').value.trim() || 'default',
    tenantDomain: $('tenant-domain').value.trim(),
    preserveOriginal: $('preserve-original').checked,
    keepSecrets: $('keep-secrets').checked,
    builtinRules: $('builtin-rules').checked,
    rules: rule ? [{ name: RULE_NAME, text: $('rule').value }] : [],
  };
}

async function run() {
  const seq = ++runSeq;
  const input = $('input').value;
  if (!input.trim()) {
    current = null;
    render();
    return;
  }
  $('summary').textContent = 'Normalizing…';
  const opts = options();
  let answer;
  try {
    answer = await playground.normalize(input, opts);
  } catch (e) {
    answer = { failure: e.message };
  }
  if (seq !== runSeq) return; // a newer run is on its way
  current = { ...answer, ruleLoaded: opts.rules.length > 0 };
  await render();
}

function describeFormat(f) {
  return {
    'log-event': 'a single LogEvent',
    'api-page': 'an API page',
    ndjson: 'NDJSON',
    'event-hook': 'an event-hook delivery',
    eventbridge: 'EventBridge',
  }[f] || f;
}

async function render() {
  const errors = $('errors');
  errors.replaceChildren();
  $('alerts').replaceChildren(el('p', { className: 'muted', textContent: 'None.' }));
  $('document').textContent = '';
  $('mapping').replaceChildren();
  const select = $('event-select');
  select.replaceChildren();
  select.disabled = true;
  if (!current) {
    $('summary').textContent = 'Load a sample or paste events.';
    return;
  }
  if (current.failure) {
    $('summary').textContent = 'The playground failed.';
    errors.append(el('div', { className: 'error', textContent: current.failure }));
    return;
  }
  if (current.configError) {
    const ce = current.configError;
    $('summary').textContent = 'The rules could not be loaded.';
    errors.append(el('div', { className: 'error', textContent: ce.message }));
    showRuleErrors(ce.ruleErrors || []);
    return;
  }
  if (current.batchError) {
    $('summary').textContent = 'The input is not the format chosen.';
    errors.append(el('div', { className: 'error', textContent: `${current.batchError.code}: ${current.batchError.message}` }));
    return;
  }
  const { result, ms } = current;
  const failed = result.outcomes.filter((o) => !o.ok);
  const withDiags = result.outcomes.filter((o) => o.ok && o.diagnostics.length);
  const alerts = result.alerts.filter((a) => a.kind === 'alert').length;
  $('summary').textContent =
    `${result.outcomes.length} event${result.outcomes.length === 1 ? '' : 's'} from ${describeFormat(result.format)}: ` +
    `${result.outcomes.length - failed.length} normalized, ${failed.length} failed, ${withDiags.length} with diagnostics; ` +
    `${alerts} alert${alerts === 1 ? '' : 's'}, ${result.alerts.length - alerts} signals (${ms.toFixed(1)} ms)`;

  for (const o of failed.slice(0, 50)) {
    errors.append(el('div', { className: 'error', textContent: `Line ${o.line}: ${o.code} ${o.message}` }));
  }
  for (const o of withDiags.slice(0, 50)) {
    for (const d of o.diagnostics) {
      const at = d.path ? ` at ${d.path}` : '';
      errors.append(el('div', { className: 'diag', textContent: `Line ${o.line}: ${d.code}${at}: ${d.message}` }));
    }
  }

  result.outcomes.forEach((o, i) => {
    const doc = safeParse(o.document);
    const type = doc?.event?.action || (o.ok ? '(no eventType)' : 'pipeline_error');
    select.append(el('option', { value: String(i), textContent: `#${o.index + 1} ${type}${o.uuid ? ' · ' + o.uuid : ''}` }));
  });
  select.disabled = result.outcomes.length === 0;
  await showEvent(0);
  await showAlerts(result);
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function showEvent(i) {
  const o = current?.result?.outcomes[i];
  if (!o) return;
  const doc = safeParse(o.document);
  $('document').textContent = doc ? JSON.stringify(doc, null, 2) : o.document;
  const mapping = $('mapping');
  mapping.replaceChildren();
  if (!o.ok) {
    mapping.append(el('p', { className: 'muted', textContent: 'This event could not be read, so nothing was mapped.' }));
    return;
  }
  const insight = await playground.inspect(o.index);
  if (!insight) return;
  const table = el('table', {}, el('thead', {}, el('tr', {},
    el('th', { scope: 'col', textContent: 'Okta source' }),
    el('th', { scope: 'col', textContent: 'ECS field' }),
    el('th', { scope: 'col', textContent: 'Value' }),
    el('th', { scope: 'col', textContent: 'How' }))));
  const body = el('tbody');
  for (const f of insight.fields) {
    body.append(el('tr', {},
      el('td', { className: 'mono', textContent: f.source }),
      el('td', { className: 'mono', textContent: f.field }),
      el('td', { className: 'mono', textContent: f.value }),
      el('td', {}, el('span', { className: `origin origin-${f.origin}`, textContent: f.origin }),
        f.note ? ` ${f.note}` : '')));
  }
  table.append(body);
  table.id = 'mapping-table';
  mapping.append(table);
}

async function showAlerts(result) {
  const box = $('alerts');
  if (!result.alerts.length) {
    box.replaceChildren(el('p', { className: 'muted', textContent: 'No rule fired on these events.' }));
    return;
  }
  const byUuid = new Map(result.outcomes.filter((o) => o.uuid).map((o) => [o.uuid, o.index]));
  const insights = new Map();
  const table = el('table', { id: 'alerts-table' }, el('thead', {}, el('tr', {},
    el('th', { scope: 'col', textContent: 'Rule' }),
    el('th', { scope: 'col', textContent: 'Severity' }),
    el('th', { scope: 'col', textContent: 'ATT&CK' }),
    el('th', { scope: 'col', textContent: 'Fields that matched' }))));
  const body = el('tbody');
  for (const a of result.alerts.slice(0, 100)) {
    const doc = safeParse(a.document) || {};
    const tactics = doc.threat?.tactic?.name || [];
    const techniques = (doc.threat?.technique?.id || []).map((id, k) => `${id} ${doc.threat.technique.name[k]}`);
    // The fields come from the triggering event that matched this rule (the last one for a
    // correlation, whose own detection rules are listed instead).
    const fields = el('ul', { className: 'fields' });
    const uuid = a.eventUuids[a.eventUuids.length - 1];
    if (byUuid.has(uuid)) {
      const index = byUuid.get(uuid);
      if (!insights.has(index)) insights.set(index, await playground.inspect(index));
      const matches = insights.get(index)?.matches || [];
      const own = matches.filter((m) => m.ruleId === a.ruleId);
      for (const m of own.length ? own : matches) {
        for (const f of m.fields) {
          const prefix = own.length ? '' : `${m.ruleName}: `;
          fields.append(el('li', {}, el('code', { textContent: `${prefix}${f.field}` }),
            ` = ${f.values.length ? f.values.join(', ') : '(present)'}`));
        }
      }
      if (!own.length && a.eventUuids.length > 1) {
        fields.prepend(el('li', { className: 'muted', textContent: `correlation over ${a.eventUuids.length} events; the last one matched:` }));
      }
    }
    const name = el('td', {}, el('strong', { textContent: doc.rule?.name || a.ruleName }),
      el('div', { className: 'muted', textContent: doc.message || '' }));
    if (current.ruleLoaded && isYours(a)) {
      name.firstChild.after(el('span', { className: 'yours', textContent: 'your rule' }));
    }
    body.append(el('tr', { className: a.kind },
      name,
      el('td', {}, el('span', { className: `sev sev-${a.severity}`, textContent: a.severity }),
        a.kind === 'signal' ? el('div', { className: 'muted', textContent: 'signal' }) : ''),
      el('td', {}, tactics.join(', '), techniques.length ? el('div', { className: 'muted', textContent: techniques.join(', ') }) : ''),
      el('td', {}, fields)));
  }
  table.append(body);
  box.replaceChildren(el('div', { className: 'table-wrap' }, table));
}

// Whether an alert comes from the rule in the rule box (by its id or name).
function isYours(alert) {
  const text = $('rule').value;
  const id = (text.match(/^id:\s*['"]?([^'"\s]+)/m) || [])[1];
  const name = (text.match(/^name:\s*['"]?([^'"\s]+)/m) || [])[1];
  return alert.ruleId === id || alert.ruleName === name;
}

// The rule box: checked as you type.
function showRuleErrors(list) {
  const status = $('rule-status');
  status.replaceChildren();
  if (!list.length) return;
  for (const e of list) {
    const where = e.line ? `line ${e.line}, column ${e.column}: ` : '';
    status.append(el('div', { className: 'error', textContent: `${where}${e.code} ${e.message}` }));
  }
}

async function lint() {
  const text = $('rule').value;
  if (!text.trim()) {
    showRuleErrors([]);
    return;
  }
  const errors = await playground.lint(RULE_NAME, text);
  showRuleErrors(errors);
  if (!errors.length) $('rule-status').append(el('div', { className: 'ok', textContent: 'The rule is valid.' }));
}

function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

const autoRun = debounce(() => {
  if ($('input').value.length <= AUTO_LIMIT) run();
}, 250);

$('input').addEventListener('input', () => {
  const big = $('input').value.length > AUTO_LIMIT;
  $('auto-note').textContent = big ? 'Large input: press Normalize to run.' : '';
  autoRun();
});
for (const id of ['format', 'tenant', 'tenant-domain', 'ingested', 'preserve-original', 'keep-secrets', 'builtin-rules']) {
  $(id).addEventListener('change', autoRun);
}
$('run').addEventListener('click', run);
$('rule').addEventListener('input', debounce(lint, 300));
$('test-rule').addEventListener('click', async () => {
  await lint();
  await run();
});
$('sample-rule').addEventListener('click', async () => {
  $('rule').value = SAMPLE_RULE;
  await lint();
});
$('clear-rule').addEventListener('click', async () => {
  $('rule').value = '';
  showRuleErrors([]);
  await run();
});
$('event-select').addEventListener('change', (e) => showEvent(Number(e.target.value)));
$('upload').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  $('input').value = await file.text();
  $('input').dispatchEvent(new Event('input'));
  if ($('input').value.length > AUTO_LIMIT) run();
});
$('copy').addEventListener('click', async () => {
  const text = $('document').textContent;
  try {
    await navigator.clipboard.writeText(text);
    $('copy-note').textContent = 'Copied.';
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('document'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('copy-note').textContent = 'Selected: press Ctrl+C to copy.';
  }
});
$('download').addEventListener('click', () => {
  if (!current?.ndjson) return;
  const url = URL.createObjectURL(new Blob([current.ndjson], { type: 'application/x-ndjson' }));
  const a = el('a', { href: url, download: 'okta-ecs.ndjson' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});

SAMPLES.forEach((s, i) => {
  const b = el('button', { type: 'button', textContent: s.label });
  b.addEventListener('click', async () => {
    $('input').value = await sampleEvent(i);
    await run();
  });
  $('sample-buttons').append(b);
});
for (const b of document.querySelectorAll('[data-batch]')) {
  b.addEventListener('click', async () => {
    $('input').value = await sampleBatch(b.dataset.batch);
    await run();
  });
}
