import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { registerSecondOrderGradients } from '../../../src/engine/autodiff/register-all.js';
import { parseNpy } from '../../../src/contract/data/npy.js';
import { parseNpz } from '../../../src/contract/data/npz.js';
import { loadGoldenCase } from '../../helpers/golden.js';
import { applyActivation } from '../../../src/engine/model/activations.js';
import { buildForward } from '../../../src/engine/model/forward.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import { toFloat64 } from '../../../src/contract/ndarray.js';

/** The Python-generated golden models (test/fixtures/golden) must parse, lay out θ as the references do, and run. */
const GOLDEN = new URL('../../fixtures/golden/', import.meta.url);
const cases = existsSync(GOLDEN)
  ? readdirSync(GOLDEN, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(new URL(`${d.name}/case.json`, GOLDEN)))
      .map((d) => d.name)
      .sort()
  : [];

const read = (name: string, file: string) => new Uint8Array(readFileSync(new URL(`${name}/${file}`, GOLDEN)));

function artifactsOf(name: string) {
  const modelJson = JSON.parse(new TextDecoder().decode(read(name, 'model.json')));
  const weights = new Map<string, Uint8Array>();
  for (const group of modelJson.weightsManifest)
    for (const path of group.paths) weights.set(path, read(name, path));
  return { modelJson, weights };
}

describe('golden fixture models', () => {
  registerSecondOrderGradients();

  for (const name of cases) {
    it(`${name}: parses, lays out θ as case.json, and reproduces the reference outputs`, () => {
      const spec = JSON.parse(new TextDecoder().decode(read(name, 'case.json')));
      const { inputs } = loadGoldenCase(name).request;
      // Parsed for the batch: variable (null) input axes take its sizes.
      const model = parseModel(artifactsOf(name), { inputs });
      const include: string[] | undefined = spec.parameters?.include;
      const selected = model.parameters.filter(
        (p) => !include || include.includes(p.name) || include.includes(p.layer),
      );
      if (spec.parameterNames)
        assert.deepEqual(
          selected.map((p) => p.name),
          spec.parameterNames,
        );
      if (!include) assert.deepEqual(model.parameters, spec.layout);

      const inputNames = model.inputs.map((i) => i.name);
      const outputNames = model.outputs.map((o) => o.name);
      const xs = inputs instanceof Map ? inputNames.map((n) => inputs.get(n)!) : [inputs];
      const expected = existsSync(new URL(`${name}/outputs.npz`, GOLDEN))
        ? (() => {
            const byKey = parseNpz(read(name, 'outputs.npz'), 'outputs.npz');
            return outputNames.map((n) => toFloat64(byKey.get(n) ?? byKey.get(`${n}.npy`)!));
          })()
        : [toFloat64(parseNpy(read(name, 'outputs.npy'), 'outputs.npy'))];
      const got = tf.tidy(() => {
        const params = Object.fromEntries(model.weights.map((w) => [w.name, tf.tensor(w.values, w.shape)]));
        const tensors = xs.map((x) => tf.tensor(Float32Array.from(toFloat64(x)), x.shape));
        return buildForward(model)
          .forwardAll(params, tensors)
          .map(({ logits, finalActivation }) => applyActivation(finalActivation, logits).dataSync());
      });
      assert.equal(got.length, expected.length);
      got.forEach((values, k) => {
        // float32 forward against a float64 reference on O(1) values: 1e-4 absolute + relative covers rounding.
        assert.equal(values.length, expected[k].length);
        for (let i = 0; i < values.length; i++) {
          assert.ok(
            Math.abs(values[i] - expected[k][i]) <= 1e-4 * (1 + Math.abs(expected[k][i])),
            `${name} output ${k}[${i}]: ${values[i]} vs ${expected[k][i]}`,
          );
        }
      });
    });
  }
});
