import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { parseNpy } from '../../src/contract/data/npy.js';
import { sizeOf, toFloat64, type NdArray } from '../../src/contract/ndarray.js';
import { lossSpecSchema, parameterSelectionSchema } from '../../src/contract/request-schema.js';

/**
 * The golden references (test/fixtures/golden, written by generate.py in float64 PyTorch) are only worth anything if
 * the Python semantics are TF.js's. This test loads every case with real TF.js Layers and checks its forward pass
 * against the reference outputs and its loss against TF.js's own loss functions, and checks the shapes and symmetry
 * of the committed curvature data.
 */
const GOLDEN = new URL('../fixtures/golden/', import.meta.url);
const cases = readdirSync(GOLDEN, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(new URL(`${d.name}/case.json`, GOLDEN)))
  .map((d) => d.name)
  .sort();

const toTensor = (a: NdArray) => tf.tensor(Float32Array.from(toFloat64(a)), a.shape, 'float32');
const read = (name: string, file: string) => new Uint8Array(readFileSync(new URL(`${name}/${file}`, GOLDEN)));
const npy = (name: string, file: string): NdArray => parseNpy(read(name, file), file);

interface CaseJson {
  numParams: number;
  parameterNames: string[];
  layout: { name: string; shape: number[]; offset: number; size: number }[];
  loss: { name: string; fromLogits: boolean; reduction: 'mean' | 'sum'; l2: number; delta: number };
  loss_value: number;
  parameters?: { include: string[] };
}

/** Per-example losses from TF.js's own loss functions, given the model output (probabilities or logits). */
function tfjsPerExampleLoss(loss: CaseJson['loss'], y: tf.Tensor2D, t: tf.Tensor): tf.Tensor1D {
  const k = y.shape[1];
  const target = loss.name === 'sparse_categorical_crossentropy' ? tf.oneHot(t.reshape([-1]).toInt(), k) : t;
  switch (loss.name) {
    case 'mean_squared_error':
      return tf.metrics.meanSquaredError(target, y) as tf.Tensor1D;
    case 'huber':
      return tf.losses.huberLoss(target, y, undefined, loss.delta, tf.Reduction.NONE).mean(-1);
    case 'binary_crossentropy':
      return loss.fromLogits
        ? tf.losses.sigmoidCrossEntropy(target, y, undefined, 0, tf.Reduction.NONE).mean(-1)
        : (tf.metrics.binaryCrossentropy(target, y) as tf.Tensor1D);
    default:
      return loss.fromLogits
        ? (tf.losses.softmaxCrossEntropy(target, y, undefined, 0, tf.Reduction.NONE) as tf.Tensor1D)
        : (tf.metrics.categoricalCrossentropy(target, y) as tf.Tensor1D);
  }
}

/** ½‖θ‖² over the selected weights, read from the shard as TF.js would. */
function halfSquaredNorm(model: tf.LayersModel, names: string[]): number {
  let sum = 0;
  for (const w of model.weights) {
    if (!names.includes(w.originalName)) continue;
    for (const v of w.read().dataSync()) sum += 0.5 * v * v;
  }
  return sum;
}

async function loadModel(name: string): Promise<tf.LayersModel> {
  const modelJson = JSON.parse(new TextDecoder().decode(read(name, 'model.json')));
  const manifest = modelJson.weightsManifest as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  const shards = manifest.flatMap((group) => group.paths.map((p) => read(name, p)));
  const total = shards.reduce((n, s) => n + s.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const s of shards) {
    weightData.set(s, offset);
    offset += s.byteLength;
  }
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs: manifest.flatMap((group) => group.weights),
      weightData: weightData.buffer,
    }),
  };
  return tf.loadLayersModel(handler);
}

describe('golden fixtures', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('include at least one case per layer family', () => {
    assert.ok(cases.length >= 35, `only ${cases.length} golden cases`);
  });

  for (const name of cases) {
    describe(name, () => {
      const info = JSON.parse(new TextDecoder().decode(read(name, 'case.json'))) as CaseJson;

      it('is reproduced by the TF.js forward pass', async () => {
        const model = await loadModel(name);
        const inputs = npy(name, 'inputs.npy');
        const expected = npy(name, 'outputs.npy');
        // Embedding ids are int32 in the .npy; the model's input layer is float32 and Embedding casts back.
        const x = toTensor(inputs);
        const y = model.predict(x) as tf.Tensor;
        assert.deepEqual(y.shape, expected.shape);
        const got = await y.data();
        const want = toFloat64(expected);
        let maxErr = 0;
        let maxRef = 0;
        for (let i = 0; i < want.length; i++) {
          maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
          maxRef = Math.max(maxRef, Math.abs(want[i]));
        }
        // TF.js computes in float32 (eps 6e-8); a few dozen rounded operations stay well below 1e-5 relative to the
        // largest output, while any semantic difference (padding, layout, epsilon, activation) is far above it.
        assert.ok(maxErr <= 1e-5 * maxRef, `max |tfjs - reference| = ${maxErr}, max |reference| = ${maxRef}`);
        tf.dispose([x, y]);
        model.dispose();
      });

      it("has the loss value TF.js's own loss functions give", async () => {
        const model = await loadModel(name);
        const [x, t] = [toTensor(npy(name, 'inputs.npy')), toTensor(npy(name, 'targets.npy'))];
        const reduced = tf.tidy(() => {
          const perExample = tfjsPerExampleLoss(info.loss, model.predict(x) as tf.Tensor2D, t);
          return info.loss.reduction === 'sum' ? perExample.sum() : perExample.mean();
        });
        const value = reduced.dataSync()[0] + info.loss.l2 * halfSquaredNorm(model, info.parameterNames);
        // float32 forward and loss; TF.js also clips probabilities to [1e-7, 1 - 1e-7], far from the fixtures'
        // probabilities (kept within [1e-3, 1 - 1e-3]), so only rounding separates the two.
        assert.ok(
          Math.abs(value - info.loss_value) <= 1e-5 * Math.abs(info.loss_value),
          `tfjs loss ${value}, reference ${info.loss_value}`,
        );
        tf.dispose([x, t, reduced]);
        model.dispose();
      });

      it('states its loss and parameter selection in the engine request vocabulary', () => {
        assert.deepEqual(lossSpecSchema.parse(info.loss), info.loss);
        if (info.parameters) parameterSelectionSchema.parse(info.parameters);
      });

      it('has curvature data of the size of its parameter layout', () => {
        const p = info.numParams;
        assert.equal(
          info.layout.reduce((n, l) => n + l.size, 0),
          p,
        );
        assert.deepEqual(
          info.layout.map((l) => l.name),
          info.parameterNames,
        );
        for (const l of info.layout) assert.equal(sizeOf(l.shape), l.size);
        assert.deepEqual(npy(name, 'gradient.npy').shape, [p]);
        assert.deepEqual(npy(name, 'eigenvalues.npy').shape, [p]);
        for (const file of ['hessian.npy', 'ggn.npy']) {
          const m = npy(name, file);
          assert.equal(m.dtype, 'float64');
          assert.deepEqual(m.shape, [p, p]);
          // Written symmetrized in float64, so symmetry is exact.
          for (let i = 0; i < p; i++) {
            for (let j = 0; j < i; j++)
              assert.equal(m.data[i * p + j], m.data[j * p + i], `${file}[${i},${j}]`);
          }
        }
      });
    });
  }
});
