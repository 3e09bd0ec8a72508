/**
 * Accuracy report (not a test) over the published models of ../shared/realworld-models: each model's H v (synthesized
 * weights and batch, test/realworld/corpus.ts) against the float64 PyTorch reference committed by
 * test/realworld/reference.py, with the time of the product. Run: `node --import tsx bench/realworld.ts [wasm|cpu]`.
 * Figures are recorded in docs/models.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../src/engine/backend.js';
import { compute } from '../src/engine/compute.js';
import { corpusNames, inputGroup, loadCorpusCase, probeVector } from '../test/realworld/corpus.js';

const backend = (process.argv[2] ?? 'wasm') as BackendChoice;
const references = path.resolve(import.meta.dirname, '../test/fixtures/realworld');
console.log(`H v against float64 on the ${backend} backend\n`);
console.log(
  '| model | P | N | relative error at the 256 recorded coordinates | ‖H v‖ relative error | time |',
);
console.log('|---|---|---|---|---|---|');
for (const name of corpusNames()) {
  const c = loadCorpusCase(name);
  const v = probeVector(c);
  const ref = JSON.parse(readFileSync(path.join(references, `${name}.json`), 'utf8'));
  const start = performance.now();
  const r = await compute(
    {
      model: c.artifacts,
      inputs: inputGroup(c),
      targets: c.targets[0].array,
      loss: c.loss,
      method: { name: 'hvp' },
      vectors: { dtype: 'float64', shape: [1, v.length], data: v },
    },
    { backend },
  );
  const seconds = (performance.now() - start) / 1000;
  const hv = r.arrays['hvp.npy'].data;
  let diff = 0;
  let norm = 0;
  ref.indices.forEach((i: number, k: number) => {
    diff += (hv[i] - ref.hv[k]) ** 2;
    norm += ref.hv[k] ** 2;
  });
  let full = 0;
  for (const x of hv) full += x * x;
  const normErr = Math.abs(Math.sqrt(full) - ref.hvNorm) / ref.hvNorm;
  console.log(
    `| ${name} | ${v.length} | ${c.inputs[0].array.shape[0]} | ${Math.sqrt(diff / norm).toExponential(1)} | ${normErr.toExponential(1)} | ${seconds.toFixed(1)} s |`,
  );
}
