// The playground's worker: the only place the wasm runs, so a big batch never blocks the page.
// Every message is {id, op, args}; every answer is {id, ok, value} or {id, ok: false, error}.
import init, { Playground, lintRule } from './pkg/okta_normalizer_web.js';

const ready = init();
// The engine of the last normalize call, kept so `inspect` can ask about its events.
let last = null;

const ops = {
  // A fresh engine per call: detection state (dedup windows, correlations) never leaks from one
  // edit of the input into the next.
  normalize({ input, format, ingested, config }) {
    let engine;
    try {
      engine = new Playground(JSON.stringify(config));
    } catch (e) {
      return { configError: JSON.parse(String(e)) };
    }
    if (last) last.free();
    last = engine;
    const result = JSON.parse(engine.normalize(input, format, ingested));
    if (result.error) return { batchError: result.error };
    // The NDJSON the CLI writes: each event's document, then each alert's.
    let ndjson = '';
    for (const o of result.outcomes) ndjson += o.document + '\n';
    for (const a of result.alerts) ndjson += a.document + '\n';
    return { result, ndjson };
  },
  inspect({ index }) {
    return last ? JSON.parse(last.inspect(index)) : null;
  },
  lint({ name, text }) {
    return JSON.parse(lintRule(name, text));
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    await ready;
    const started = performance.now();
    const value = ops[op](args);
    self.postMessage({ id, ok: true, value, ms: performance.now() - started });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
};
