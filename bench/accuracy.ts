/**
 * Accuracy report (not a test): the engine's dense Hessian and GGN against the committed float64 references,
 * over every golden case, per backend. Run: `node --import tsx bench/accuracy.ts [cpu|wasm ...]`.
 * Figures are recorded in docs/engine.md.
 */
import { initBackend, type BackendChoice } from '../src/engine/backend.js';
import { compute } from '../src/engine/compute.js';
import { goldenCaseNames, loadGoldenCase, relativeError } from '../test/helpers/golden.js';

const requested = process.argv.slice(2) as BackendChoice[];
const backends: BackendChoice[] = requested.length > 0 ? requested : ['cpu', 'wasm'];
const names = goldenCaseNames();
console.log(`${names.length} golden cases; relative Frobenius error against float64\n`);
console.log('| backend | method | median | max | worst case |');
console.log('|---|---|---|---|---|');
for (const backend of backends) {
  await initBackend(backend);
  for (const method of ['hessian', 'ggn'] as const) {
    const errors: [number, string][] = [];
    for (const name of names) {
      const c = loadGoldenCase(name);
      const r = await compute({ ...c.request, method: { name: method } }, { backend });
      errors.push([
        relativeError(r.arrays[`${method}.npy`].data, method === 'hessian' ? c.hessian : c.ggn),
        name,
      ]);
    }
    errors.sort((a, b) => a[0] - b[0]);
    const [max, worst] = errors[errors.length - 1];
    const median = errors[Math.floor(errors.length / 2)][0];
    console.log(
      `| ${backend} | ${method} | ${median.toExponential(1)} | ${max.toExponential(1)} | ${worst} |`,
    );
  }
}
