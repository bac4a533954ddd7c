// The page's API over the worker. The UI (app.js) and the browser tests use only this, so the
// tests exercise exactly what the page does.

export function createPlayground() {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  let next = 0;
  const pending = new Map();
  worker.onmessage = ({ data }) => {
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (data.ok) p.resolve({ value: data.value, ms: data.ms });
    else p.reject(new Error(data.error));
  };
  worker.onerror = (e) => {
    for (const p of pending.values()) p.reject(new Error(`the worker failed: ${e.message}`));
    pending.clear();
  };
  const call = (op, args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, op, args });
    });

  return {
    /**
     * Normalizes `input`. `options`: {format, ingested, tenant, tenantDomain, preserveOriginal,
     * keepSecrets, builtinRules, rules: [{name, text}]}. Resolves to {result, ndjson, ms}, or
     * {configError} / {batchError} when the engine or the batch was refused.
     */
    async normalize(input, options = {}) {
      const { format = 'auto', ingested = '', ...config } = options;
      const { value, ms } = await call('normalize', { input, format, ingested, config });
      return { ...value, ms };
    },
    /** Provenance of event `index` of the last batch, and the rules it matches (or null). */
    async inspect(index) {
      return (await call('inspect', { index })).value;
    },
    /** Problems in one rule file: [{code, line, column, rule, message}]. */
    async lint(name, text) {
      return (await call('lint', { name, text })).value;
    },
  };
}
