/**
 * Writes each corpus model's synthesized weights, batch and probe vector for `reference.py` (the float64 PyTorch
 * re-implementation) to read:
 *
 *     node --import tsx test/realworld/export.ts /tmp/realworld
 *     /usr/bin/python3 test/realworld/reference.py /tmp/realworld
 *
 * Per model, `<dir>/<name>/`: weights.npz (every weight by its `layer/weight` name), inputs.npz (by input name),
 * targets.npy, vector.npy (float64 holding float32 values, length P) and case.json (loss, names, θ layout).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { encodeNpy } from '../../src/contract/data/npy.js';
import { corpusNames, loadCorpusCase, probeVector, CORPUS_SEEDS } from './corpus.js';

const out = process.argv[2];
if (!out) throw new Error('usage: export.ts OUT_DIR');
for (const name of corpusNames()) {
  const c = loadCorpusCase(name);
  const dir = path.join(out, name);
  mkdirSync(dir, { recursive: true });
  const npz = (entries: [string, Parameters<typeof encodeNpy>[0]][]) =>
    zipSync(Object.fromEntries(entries.map(([key, a]) => [`${key}.npy`, new Uint8Array(encodeNpy(a))])));
  writeFileSync(
    path.join(dir, 'weights.npz'),
    npz(c.model.weights.map((w) => [w.name, { dtype: 'float32', shape: w.shape, data: w.values }])),
  );
  writeFileSync(path.join(dir, 'inputs.npz'), npz(c.inputs.map((i) => [i.name, i.array])));
  writeFileSync(path.join(dir, 'targets.npy'), encodeNpy(c.targets[0].array));
  const v = probeVector(c);
  writeFileSync(path.join(dir, 'vector.npy'), encodeNpy({ dtype: 'float64', shape: [v.length], data: v }));
  writeFileSync(
    path.join(dir, 'case.json'),
    JSON.stringify(
      {
        name,
        modelJson: path.join(c.dir, 'model.json'),
        numExamples: c.inputs[0].array.shape[0],
        seeds: CORPUS_SEEDS,
        loss: c.loss,
        inputNames: c.inputs.map((i) => i.name),
        outputName: c.targets[0].name,
        layout: c.model.parameters.map(({ name: n, shape, offset, size }) => ({
          name: n,
          shape,
          offset,
          size,
        })),
      },
      null,
      1,
    ),
  );
  console.log(
    name,
    c.model.parameters.reduce((n, p) => n + p.size, 0),
  );
}
