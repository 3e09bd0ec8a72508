import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { parseModel } from '../../../src/contract/model/parse.js';
import { sizeOf } from '../../../src/contract/ndarray.js';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { buildForward } from '../../../src/engine/model/forward.js';
import { assertEngineError } from '../../helpers/engine-error.js';
import { loadGoldenCase, matvec, relativeError } from '../../helpers/golden.js';

/**
 * Normalization and Dot: their golden cases (dense Hessian, GGN, diagonal and HVP against float64 on cpu and wasm),
 * Normalization's statistics kept out of θ, the axis/statistic forms Keras 2 and 3 write, Dot's output shapes and
 * values against TF.js Layers' own Dot and a plain reference, and the refusals.
 */
const TOLERANCE = 1e-4;
const NEW_CASES = ['mlp_normalization', 'functional_dot', 'functional_dot_normalize'];

type LayerJson = [className: string, name: string, config: Record<string, unknown>, inbound: string[]];

/** A functional model (Keras 2 layout) on one input `input_1`, with float32 weights (name → [shape, values]). */
function functional(
  inputShape: number[],
  layers: LayerJson[],
  output: string,
  weights: [string, number[], Float32Array | Int32Array][] = [],
) {
  const bytes = new Uint8Array(weights.reduce((n, [, , v]) => n + v.byteLength, 0));
  let offset = 0;
  for (const [, , v] of weights) {
    bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
    offset += v.byteLength;
  }
  return {
    modelJson: {
      modelTopology: {
        class_name: 'Model',
        config: {
          name: 'm',
          layers: [
            {
              class_name: 'InputLayer',
              name: 'input_1',
              config: { name: 'input_1', batch_input_shape: [null, ...inputShape], dtype: 'float32' },
              inbound_nodes: [],
            },
            ...layers.map(([className, name, config, inbound]) => ({
              class_name: className,
              name,
              config: { name, ...config },
              inbound_nodes: [inbound.map((i) => [i, 0, 0, {}])],
            })),
          ],
          input_layers: [['input_1', 0, 0]],
          output_layers: [[output, 0, 0]],
        },
      },
      weightsManifest: [
        {
          paths: ['w.bin'],
          weights: weights.map(([name, shape, v]) => ({
            name,
            shape,
            dtype: v instanceof Int32Array ? 'int32' : 'float32',
          })),
        },
      ],
    },
    weights: new Map([['w.bin', bytes]]),
  };
}

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 1.7) * 1.3);
}

/** The engine's forward pass on x; returns its output values and shape. */
function run(artifacts: ReturnType<typeof functional>, x: tf.Tensor) {
  const model = parseModel(artifacts);
  const params = Object.fromEntries(model.weights.map((w) => [w.name, tf.tensor(w.values, w.shape)]));
  const y = buildForward(model).forward(params, x).logits;
  return { values: Array.from(y.dataSync()), shape: y.shape, model };
}

/** Row-major strides of a shape. */
const strides = (shape: number[]) => shape.map((_, i) => sizeOf(shape.slice(i + 1)));

/**
 * Keras's batch_dot, written out with loops (batch axis 0 of both shapes): output index = x's other axes then y's.
 */
function referenceDot(
  x: Float32Array,
  xs: number[],
  y: Float32Array,
  ys: number[],
  [a, b]: [number, number],
): number[] {
  const [sx, sy] = [strides(xs), strides(ys)];
  const xRest = xs.map((_, i) => i).filter((i) => i !== 0 && i !== a);
  const yRest = ys.map((_, i) => i).filter((i) => i !== 0 && i !== b);
  const outShape = [xs[0], ...xRest.map((i) => xs[i]), ...yRest.map((i) => ys[i])];
  const out: number[] = [];
  const index = new Array<number>(outShape.length).fill(0);
  for (let j = 0; j < sizeOf(outShape); j++) {
    let xBase = index[0] * sx[0];
    let yBase = index[0] * sy[0];
    xRest.forEach((axis, i) => (xBase += index[1 + i] * sx[axis]));
    yRest.forEach((axis, i) => (yBase += index[1 + xRest.length + i] * sy[axis]));
    let sum = 0;
    for (let k = 0; k < xs[a]; k++) sum += x[xBase + k * sx[a]] * y[yBase + k * sy[b]];
    out.push(sum);
    for (let i = outShape.length - 1; i >= 0; i--) {
      if (++index[i] < outShape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`Normalization and Dot golden cases on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const name of NEW_CASES) {
      it(`${name}: hessian, ggn, diagonal and hvp match float64 to 1e-4`, async () => {
        const c = loadGoldenCase(name);
        const n = c.numParams;
        const h = await compute({ ...c.request, method: { name: 'hessian' } }, { backend });
        assert.equal(h.numParams, n);
        const hErr = relativeError(h.arrays['hessian.npy'].data, c.hessian);
        assert.ok(hErr <= TOLERANCE, `hessian relative error ${hErr.toExponential(2)}`);
        assert.ok(h.verification.passed, JSON.stringify(h.verification));

        const g = await compute({ ...c.request, method: { name: 'ggn' } }, { backend });
        const gErr = relativeError(g.arrays['ggn.npy'].data, c.ggn);
        assert.ok(gErr <= TOLERANCE, `ggn relative error ${gErr.toExponential(2)}`);

        const d = await compute({ ...c.request, method: { name: 'diagonal' } }, { backend });
        const refDiag = Float64Array.from({ length: n }, (_, i) => c.hessian[i * n + i]);
        const dErr = relativeError(d.arrays['diagonal.npy'].data, refDiag);
        assert.ok(dErr <= TOLERANCE, `diagonal relative error ${dErr.toExponential(2)}`);

        const v = createRng(11).gaussianVector(n);
        const hv = await compute(
          { ...c.request, method: { name: 'hvp', vectors: [Array.from(v)] } },
          { backend },
        );
        const vErr = relativeError(hv.arrays['hvp.npy'].data, matvec(c.hessian, v));
        assert.ok(vErr <= TOLERANCE, `hvp relative error ${vErr.toExponential(2)}`);
      });
    }
  });
}

describe('Normalization', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('keeps its statistics out of θ and accounts for the int32 count it never reads', () => {
    const model = parseModel(loadGoldenCase('mlp_normalization').request.model);
    assert.deepEqual(
      model.parameters.map((p) => p.name),
      ['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias'],
    );
    assert.deepEqual(
      model.weights.filter((w) => w.layer === 'normalization').map((w) => [w.name, w.shape, w.trainable]),
      [
        ['normalization/mean', [4], false],
        ['normalization/variance', [4], false],
      ],
    );
    const layers = model.layers.filter((l) => l.kind === 'normalization');
    assert.deepEqual(
      layers.map((l) => l.kind === 'normalization' && [l.axes, l.invert, l.stats]),
      [
        [[1], false, null],
        [[], true, { mean: [0.2], variance: [1.7] }],
      ],
    );
  });

  it('computes (x − mean) / max(√variance, 1e-7) over kept axes, from weights with or without count', () => {
    // input [2, 3]; axis [1, 2] keeps both; one variance is 0 so its deviation is Keras's epsilon.
    const mean = values(6, 1);
    const variance = Float32Array.from(values(6, 2), (v, i) => (i === 4 ? 0 : v * v + 0.1));
    const x = tf.tensor(values(2 * 6, 3), [2, 2, 3]);
    const xv = x.dataSync();
    const want = Array.from(xv, (v, i) => (v - mean[i % 6]) / Math.max(Math.sqrt(variance[i % 6]), 1e-7));
    for (const count of [new Int32Array([5]), new Float32Array([5]), undefined]) {
      const weights: [string, number[], Float32Array | Int32Array][] = [
        ['n/mean', [2, 3], mean],
        ['n/variance', [2, 3], variance],
      ];
      if (count) weights.push(['n/count', [], count]);
      const { values: got, shape } = run(
        functional([2, 3], [['Normalization', 'n', { axis: [1, 2] }, ['input_1']]], 'n', weights),
        x,
      );
      assert.deepEqual(shape, [2, 2, 3]);
      assert.ok(relativeError(got, want) <= 1e-6, `count ${count?.constructor.name ?? 'absent'}`);
    }
  });

  it('reads axis as an int, a list (negative included) or null (one scalar mean)', () => {
    const x = tf.tensor(values(2 * 6, 4), [2, 2, 3]);
    const xv = x.dataSync();
    for (const [axis, shape, pick] of [
      [-1, [3], (i: number) => i % 3],
      [[1], [2], (i: number) => Math.floor(i / 3) % 2],
      [[-2, 2], [2, 3], (i: number) => i % 6],
      [null, [], () => 0],
    ] as const) {
      const size = sizeOf([...shape]);
      const mean = values(size, 5);
      const variance = Float32Array.from(values(size, 6), (v) => v * v + 0.2);
      const artifacts = functional([2, 3], [['Normalization', 'n', { axis }, ['input_1']]], 'n', [
        ['n/mean', [...shape], mean],
        ['n/variance', [...shape], variance],
        ['n/count', [], new Int32Array([3])],
      ]);
      const want = Array.from(xv, (v, i) => (v - mean[pick(i)]) / Math.sqrt(variance[pick(i)]));
      const { values: got } = run(artifacts, x);
      assert.ok(relativeError(got, want) <= 1e-6, `axis ${JSON.stringify(axis)}`);
    }
  });

  it('takes mean and variance from the config (Keras 3), broadcast to the kept axes, and inverts', () => {
    const x = tf.tensor(values(2 * 6, 7), [2, 2, 3]);
    const xv = x.dataSync();
    const mean = [0.5, -1, 2];
    const variance = [[4], [0.25]]; // [2, 1] against kept axes [2, 3]: one variance per row
    for (const invert of [false, true]) {
      const artifacts = functional(
        [2, 3],
        [['Normalization', 'n', { axis: [1, 2], mean, variance, invert }, ['input_1']]],
        'n',
      );
      const { values: got, model } = run(artifacts, x);
      assert.equal(model.weights.length, 0);
      const want = Array.from(xv, (v, i) => {
        const [m, s] = [mean[i % 3], Math.sqrt(variance[Math.floor(i / 3) % 2][0])];
        return invert ? m + v * s : (v - m) / s;
      });
      assert.ok(relativeError(got, want) <= 1e-6, `invert ${invert}`);
    }
  });

  it('refuses a batch axis, an axis out of range, a lone mean and statistics that do not broadcast', () => {
    const build = (config: Record<string, unknown>) => () =>
      parseModel(functional([2, 3], [['Normalization', 'norm', config, ['input_1']]], 'norm'));
    assertEngineError(build({ axis: 0 }), 'unsupported_layer', /"norm".*batch position/);
    assertEngineError(build({ axis: [1, 3] }), 'invalid_model', /"norm".*axis \[1,3\] is invalid/);
    assertEngineError(build({ axis: -1, mean: [1, 2, 3] }), 'invalid_model', /"norm".*together/);
    assertEngineError(
      build({ axis: -1, mean: [1, 2], variance: [1, 2] }),
      'invalid_model',
      /"norm".*"mean" \[1,2\] does not broadcast to the kept axes \[3\]/,
    );
    // adapted statistics missing from the manifest
    assertEngineError(build({ axis: -1 }), 'missing_weights', /norm\/mean/);
  });
});

describe('Dot', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it("matches TF.js Layers' Dot on vectors and 3-D inputs, normalized or not", () => {
    // input [3, 4]: a = the input, b = Permute((2, 1)) of it [4, 3], v = GlobalAveragePooling1D [4]
    const x = tf.tensor(values(2 * 12, 8), [2, 3, 4]);
    const branches: LayerJson[] = [
      ['Permute', 'b', { dims: [2, 1] }, ['input_1']],
      ['GlobalAveragePooling1D', 'v', {}, ['input_1']],
      ['Dense', 'w', { units: 4, use_bias: false }, ['v']],
    ];
    const kernel = values(16, 9);
    const tensors: Record<string, tf.Tensor> = {
      input_1: x,
      b: tf.transpose(x, [0, 2, 1]),
      v: tf.mean(x, 1),
    };
    tensors.w = tf.matMul(tensors.v as tf.Tensor2D, tf.tensor2d(kernel, [4, 4]));
    for (const [inbound, axes, shape] of [
      [['v', 'w'], 1, [1]],
      [
        ['input_1', 'b'],
        [2, 1],
        [3, 3],
      ],
      [
        ['input_1', 'b'],
        [1, 2],
        [4, 4],
      ],
      [['input_1', 'v'], [2, 1], [3]],
      [['v', 'input_1'], [1, 2], [3]],
      [['input_1', 'input_1'], 1, [4, 4]],
    ] as [string[], number | number[], number[]][]) {
      for (const normalize of [false, true]) {
        const artifacts = functional(
          [3, 4],
          [...branches, ['Dot', 'dot', { axes, normalize }, inbound]],
          'dot',
          [['w/kernel', [4, 4], kernel]],
        );
        const { values: got, shape: gotShape } = run(artifacts, x);
        const want = (
          tf.layers
            .dot({ axes: axes as number, normalize })
            .apply(inbound.map((n) => tensors[n])) as tf.Tensor
        ).dataSync();
        const what = `${inbound.join('·')} axes ${JSON.stringify(axes)}${normalize ? ' normalized' : ''}`;
        assert.deepEqual(gotShape, [2, ...shape], what);
        assert.ok(relativeError(got, want) <= 1e-6, what);
        // Negative axes count from the end of each input's rank, batch included (TF.js Layers' build rejects them).
        // (Each int-axes case here joins inputs of one rank.)
        const rank = (input: string) => (input === 'v' || input === 'w' ? 2 : 3);
        const negative = Array.isArray(axes)
          ? axes.map((a, i) => a - rank(inbound[i]))
          : axes - rank(inbound[0]);
        const negated = functional(
          [3, 4],
          [...branches, ['Dot', 'dot', { axes: negative, normalize }, inbound]],
          'dot',
          [['w/kernel', [4, 4], kernel]],
        );
        assert.deepEqual(run(negated, x).values, got, `${what} as ${JSON.stringify(negative)}`);
      }
    }
  });

  it('contracts any axis of higher-rank inputs (which TF.js Layers refuses) as Keras batch_dot does', () => {
    // input [2, 3, 4]; Dot(axes [3, 2]) of it with its Permute((1, 3, 2)) [2, 4, 3] gives [2, 3, 2, 3]
    const x = tf.tensor(values(2 * 24, 10), [2, 2, 3, 4]);
    const artifacts = functional(
      [2, 3, 4],
      [
        ['Permute', 'p', { dims: [1, 3, 2] }, ['input_1']],
        ['Dot', 'dot', { axes: [3, 2] }, ['input_1', 'p']],
      ],
      'dot',
    );
    const { values: got, shape } = run(artifacts, x);
    assert.deepEqual(shape, [2, 2, 3, 2, 3]);
    const p = tf.transpose(x, [0, 1, 3, 2]);
    const want = referenceDot(
      x.dataSync() as Float32Array,
      x.shape,
      p.dataSync() as Float32Array,
      p.shape,
      [3, 2],
    );
    assert.ok(relativeError(got, want) <= 1e-6);
  });

  it('normalizes a zero vector to zero, with finite second derivatives', async () => {
    // Dense(3, relu) of a negative input is 0 for the first example; the Dot normalizes it against itself.
    const kernel = Float32Array.from([1, 0.5, 2, -1, 0.3, 1]);
    const artifacts = functional(
      [2],
      [
        ['Dense', 'd', { units: 3, activation: 'relu', use_bias: false }, ['input_1']],
        ['Dense', 'e', { units: 3, use_bias: false }, ['input_1']],
        ['Dot', 'dot', { axes: 1, normalize: true }, ['d', 'e']],
      ],
      'dot',
      [
        ['d/kernel', [2, 3], kernel],
        ['e/kernel', [2, 3], values(6, 11)],
      ],
    );
    const x = tf.tensor([-1, -0.5, 0.7, 0.4], [2, 2]);
    const { values: got } = run(artifacts, x);
    assert.equal(got[0], 0);
    assert.ok(Number.isFinite(got[1]) && got[1] !== 0);
    const h = await compute(
      {
        model: artifacts,
        inputs: { dtype: 'float32', shape: [2, 2], data: Float32Array.from(x.dataSync()) },
        targets: { dtype: 'float32', shape: [2, 1], data: Float32Array.from([0.3, -0.2]) },
        loss: { name: 'mean_squared_error' },
        method: { name: 'hessian' },
      },
      { backend: 'cpu' },
    );
    assert.ok(h.arrays['hessian.npy'].data.every(Number.isFinite));
    assert.ok(h.verification.passed, JSON.stringify(h.verification));
  });

  it('refuses mismatched axis sizes, the batch axis, bad axes and other than two inputs, naming the layer', () => {
    const build =
      (config: Record<string, unknown>, inbound = ['a', 'b']) =>
      () =>
        parseModel(
          functional(
            [3, 4],
            [
              ['Permute', 'a', { dims: [2, 1] }, ['input_1']],
              ['Reshape', 'b', { target_shape: [3, 4] }, ['input_1']],
              ['Dot', 'my_dot', config, inbound],
            ],
            'my_dot',
          ),
        );
    assertEngineError(
      build({ axes: 1 }),
      'invalid_model',
      /Layer "my_dot" \(Dot\) \[layer 3 of 3\]: cannot take the dot product of \[null, 4, 3\] along axis 1 \(size 4\) and \[null, 3, 4\] along axis 1 \(size 3\)/,
      { layer: 'my_dot' },
    );
    assertEngineError(build({ axes: [0, 0] }), 'invalid_model', /"my_dot".*batch axis/);
    assertEngineError(build({ axes: [1, 2, 3] }), 'invalid_model', /"my_dot".*pair of integers/);
    assertEngineError(build({ axes: 1 }, ['a', 'b', 'a']), 'invalid_model', /"my_dot".*exactly two inputs/);
    build({ axes: [1, 2] })(); // [4, 3] · [3, 4] along sizes 4 and 4 is fine
  });

  it('and Normalization are in the supported list an unsupported layer is refused with', () => {
    assertEngineError(
      () => parseModel(functional([3], [['Frobnicate', 'f', {}, ['input_1']]], 'f')),
      'unsupported_layer',
      /Supported layers: .*\bDot\b.*\bNormalization\b/,
    );
  });
});
