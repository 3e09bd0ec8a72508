import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { EngineError } from '../../../src/contract/errors.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { buildForward } from '../../../src/engine/model/forward.js';
import { loadGoldenCase, relativeError, editedGoldenCase as edited } from '../../helpers/golden.js';

/**
 * DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, MaxPooling1D and GlobalMaxPooling1D/2D: their golden cases'
 * diagonals, and what TF.js Layers cannot load (a dilated DepthwiseConv2D: TF.js ignores its dilation_rate)
 * checked against TF.js core ops and finite differences.
 */
const TOLERANCE = 1e-4;
const NEW_CASES = [
  'cnn_depthwise_conv2d',
  'cnn_maxpool1d_global_max',
  'cnn_global_max_pool2d',
  'cnn_separable_conv2d',
  'cnn_conv2d_transpose',
];

/** A Sequential model of one layer with the given weights (name → [shape, values]). */
function singleLayer(
  className: string,
  config: Record<string, unknown>,
  inputShape: number[],
  weights: [string, number[], Float32Array][] = [],
) {
  const bytes = new Uint8Array(weights.reduce((n, [, , v]) => n + v.byteLength, 0));
  let offset = 0;
  for (const [, , v] of weights) {
    bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
    offset += v.byteLength;
  }
  return parseModel({
    modelJson: {
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 's',
          layers: [
            {
              class_name: className,
              config: { name: 'l', batch_input_shape: [null, ...inputShape], ...config },
            },
          ],
        },
      },
      weightsManifest: [
        {
          paths: ['w.bin'],
          weights: weights.map(([name, shape]) => ({ name: `l/${name}`, shape, dtype: 'float32' })),
        },
      ],
    },
    weights: new Map([['w.bin', bytes]]),
  });
}

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 1.7) * 1.3);
}

function runForward(model: ReturnType<typeof parseModel>, x: tf.Tensor): Float32Array {
  const params = Object.fromEntries(model.weights.map((w) => [w.name, tf.tensor(w.values, w.shape)]));
  return buildForward(model).forward(params, x).logits.dataSync() as Float32Array;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`convolution and pooling layers on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const name of NEW_CASES) {
      it(`${name}: diagonal matches float64 to 1e-4`, async () => {
        const c = loadGoldenCase(name);
        const n = c.numParams;
        const d = await compute({ ...c.request, method: { name: 'diagonal' } }, { backend });
        const refDiag = Float64Array.from({ length: n }, (_, i) => c.hessian[i * n + i]);
        const err = relativeError(d.arrays['diagonal.npy'].data, refDiag);
        assert.ok(err <= TOLERANCE, `diagonal relative error ${err.toExponential(2)}`);
      });
    }

    it('dilated DepthwiseConv2D: Hessian agrees with finite differences', async () => {
      // 5x5 input: the first layer keeps 5x5 (same, dilation 2), the second (2x2, stride 2, valid) gives 2x2 as before.
      const c = edited('cnn_depthwise_conv2d', (layers) => {
        Object.assign(layers[0].config, { strides: [1, 1], dilation_rate: [2, 2] });
        Object.assign(layers[1].config, { strides: [2, 2] });
      });
      const h = await compute({ ...c.request, method: { name: 'hessian' } }, { backend });
      const fd = await compute({ ...c.request, method: { name: 'finite_difference' } }, { backend });
      const err = relativeError(fd.arrays['hessian.npy'].data, h.arrays['hessian.npy'].data);
      assert.ok(err <= 2e-2, `finite differences vs hessian ${err.toExponential(2)}`);
      assert.ok(relativeError(h.arrays['hessian.npy'].data, c.hessian) > 1e-3);
    });

    it('SeparableConv1D (which TF.js cannot load): Hessian agrees with finite differences', async () => {
      // cnn_maxpool1d_global_max with its Conv1D(3, 2, same, swish) replaced by SeparableConv1D(3, 2, same, swish);
      // the new weights reuse the old layer's values.
      const c = loadGoldenCase('cnn_maxpool1d_global_max');
      const modelJson = structuredClone(c.request.model.modelJson) as any;
      const layer = modelJson.modelTopology.config.layers[2];
      assert.equal(layer.config.name, 'conv1d_1');
      layer.class_name = 'SeparableConv1D';
      Object.assign(layer.config, { depth_multiplier: 1 });
      const group = modelJson.weightsManifest[0];
      const old = new Float32Array(new Uint8Array(c.request.model.weights.get(group.paths[0])!).buffer);
      // conv1d/kernel (12), conv1d/bias (3), conv1d_1/kernel (18), conv1d_1/bias (3), dense/kernel, dense/bias
      const replaced = Float32Array.from([...old.subarray(0, 30), ...old.subarray(33)]);
      group.weights.splice(
        2,
        2,
        { name: 'conv1d_1/depthwise_kernel', shape: [2, 3, 1], dtype: 'float32' },
        { name: 'conv1d_1/pointwise_kernel', shape: [1, 3, 3], dtype: 'float32' },
        { name: 'conv1d_1/bias', shape: [3], dtype: 'float32' },
      );
      const request = {
        ...c.request,
        model: { modelJson, weights: new Map([[group.paths[0], new Uint8Array(replaced.buffer)]]) },
      };
      const h = await compute({ ...request, method: { name: 'hessian' } }, { backend });
      assert.equal(h.numParams, c.numParams - 3);
      const fd = await compute({ ...request, method: { name: 'finite_difference' } }, { backend });
      const err = relativeError(fd.arrays['hessian.npy'].data, h.arrays['hessian.npy'].data);
      assert.ok(err <= 2e-2, `finite differences vs hessian ${err.toExponential(2)}`);
    });
  });
}

describe('convolution layers follow TensorFlow semantics', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('DepthwiseConv2D with dilation matches tf.depthwiseConv2d', () => {
    for (const [padding, dilation] of [
      ['same', 2],
      ['valid', 2],
      ['same', 1],
    ] as const) {
      const kernel = values(3 * 2 * 2 * 3, 1);
      const bias = values(6, 2);
      const model = singleLayer(
        'DepthwiseConv2D',
        { kernel_size: [3, 2], depth_multiplier: 3, padding, dilation_rate: [dilation, dilation] },
        [6, 5, 2],
        [
          ['depthwise_kernel', [3, 2, 2, 3], kernel],
          ['bias', [6], bias],
        ],
      );
      const x = tf.tensor(values(2 * 6 * 5 * 2, 3), [2, 6, 5, 2]);
      const want = tf
        .add(
          tf.depthwiseConv2d(x as tf.Tensor4D, tf.tensor4d(kernel, [3, 2, 2, 3]), 1, padding, 'NHWC', [
            dilation,
            dilation,
          ]),
          tf.tensor1d(bias),
        )
        .dataSync();
      const got = runForward(model, x);
      assert.equal(got.length, want.length);
      assert.ok(relativeError(got, want) <= 1e-5, `${padding}, dilation ${dilation}`);
    }
  });

  it('Conv2DTranspose matches tf.conv2dTranspose, a kernel smaller than the stride included', () => {
    for (const [padding, k, s] of [
      ['valid', [2, 1], [3, 2]],
      ['same', [3, 3], [2, 2]],
      ['valid', [3, 2], [1, 1]],
    ] as const) {
      const kernel = values(k[0] * k[1] * 3 * 2, 4);
      const model = singleLayer(
        'Conv2DTranspose',
        { filters: 3, kernel_size: k, strides: s, padding, use_bias: false },
        [3, 4, 2],
        [['kernel', [k[0], k[1], 3, 2], kernel]],
      );
      const out = model.layers[model.layers.length - 1].outputShape;
      const x = tf.tensor(values(2 * 3 * 4 * 2, 5), [2, 3, 4, 2]);
      const want = tf
        .conv2dTranspose(
          x as tf.Tensor4D,
          tf.tensor4d(kernel, [k[0], k[1], 3, 2]),
          [2, out[0], out[1], 3],
          [s[0], s[1]],
          padding,
        )
        .dataSync();
      const got = runForward(model, x);
      assert.equal(got.length, want.length);
      assert.ok(relativeError(got, want) <= 1e-5, `${padding}, kernel ${k.join('x')}, stride ${s.join('x')}`);
    }
  });

  it('SeparableConv1D matches tf.separableConv2d on height 1', () => {
    for (const [padding, stride, dilation] of [
      ['same', 2, 1],
      ['valid', 1, 2],
    ] as const) {
      const depthwise = values(3 * 2 * 2, 7);
      const pointwise = values(4 * 3, 8);
      const bias = values(3, 9);
      const model = singleLayer(
        'SeparableConv1D',
        {
          filters: 3,
          kernel_size: [3],
          depth_multiplier: 2,
          strides: [stride],
          dilation_rate: [dilation],
          padding,
        },
        [7, 2],
        [
          ['depthwise_kernel', [3, 2, 2], depthwise],
          ['pointwise_kernel', [1, 4, 3], pointwise],
          ['bias', [3], bias],
        ],
      );
      const x = tf.tensor(values(2 * 7 * 2, 10), [2, 7, 2]);
      const want = tf
        .add(
          tf.separableConv2d(
            tf.reshape(x, [2, 1, 7, 2]) as tf.Tensor4D,
            tf.tensor4d(depthwise, [1, 3, 2, 2]),
            tf.tensor4d(pointwise, [1, 1, 4, 3]),
            [1, stride],
            padding,
            [1, dilation],
          ),
          tf.tensor1d(bias),
        )
        .dataSync();
      const got = runForward(model, x);
      assert.equal(got.length, want.length);
      assert.ok(relativeError(got, want) <= 1e-5, `${padding}, stride ${stride}, dilation ${dilation}`);
    }
  });

  it('SeparableConv2D declares depthwise, pointwise and bias weights in Keras order', () => {
    const model = singleLayer(
      'SeparableConv2D',
      { filters: 4, kernel_size: 2, depth_multiplier: 2 },
      [3, 3, 3],
      [
        ['depthwise_kernel', [2, 2, 3, 2], new Float32Array(24)],
        ['pointwise_kernel', [1, 1, 6, 4], new Float32Array(24)],
        ['bias', [4], new Float32Array(4)],
      ],
    );
    assert.deepEqual(
      model.parameters.map((p) => [p.name, p.shape]),
      [
        ['l/depthwise_kernel', [2, 2, 3, 2]],
        ['l/pointwise_kernel', [1, 1, 6, 4]],
        ['l/bias', [4]],
      ],
    );
    assert.deepEqual(model.layers[model.layers.length - 1].outputShape, [2, 2, 4]);
  });

  it('GlobalMaxPooling keeps dims when asked', () => {
    const model = singleLayer('GlobalMaxPooling2D', { keepdims: true }, [3, 4, 2]);
    assert.deepEqual(model.layers[model.layers.length - 1].outputShape, [1, 1, 2]);
    const x = tf.tensor(values(3 * 4 * 2, 6), [1, 3, 4, 2]);
    assert.deepEqual(Array.from(runForward(model, x)), Array.from(tf.max(x, [1, 2]).dataSync()));
  });

  it('refuses Conv2DTranspose dilation and output_padding', () => {
    for (const extra of [{ dilation_rate: [2, 2] }, { output_padding: [1, 1] }]) {
      assert.throws(
        () =>
          singleLayer(
            'Conv2DTranspose',
            { filters: 2, kernel_size: 2, ...extra },
            [3, 3, 1],
            [
              ['kernel', [2, 2, 2, 1], new Float32Array(8)],
              ['bias', [2], new Float32Array(2)],
            ],
          ),
        (e: unknown) => e instanceof EngineError && e.code === 'unsupported_layer',
      );
    }
  });
});
