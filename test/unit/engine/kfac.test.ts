/**
 * The `kfac` method (Kronecker-factored GGN per Dense layer) on the cpu and wasm backends:
 * (a) A and B against float64 factors made by PyTorch from explicit per-example Jacobians
 *     (test/fixtures/golden/generate_kfac.py → <case>/kfac.npz);
 * (b) with one example, A ⊗ B (+ l2·I) equals the exact GGN's layer blocks from the `ggn` method;
 * (c) the Monte-Carlo B converges to the exact one like 1/√samples;
 * (d) inverse products solve (K + δI) x = v, and damping 0 on a singular factor is refused;
 * plus coverage refusals (conv models, huber, unselected layers) and safe artifact names for hostile layer names.
 *
 * Tolerances: float32 factors against float64 are within 2.3e-7 relative (Frobenius; worst over the kfac goldens,
 * cpu and wasm); 1e-4 is accepted, as for the GGN diagonal of the factor route. A wrong scale or a missing term is
 * off by ≥ 1e-1.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { isSafeArtifactName } from '../../../src/contract/artifact-names.js';
import { parseNpz } from '../../../src/contract/data/npz.js';
import type { NdArray } from '../../../src/contract/ndarray.js';
import type { ComputeRequest, ComputeResult, ParamLayout } from '../../../src/contract/types.js';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { kfacInverseResidualCheck } from '../../../src/engine/checks/kfac.js';
import { EngineError, type EngineErrorCode } from '../../../src/contract/errors.js';
import { GOLDEN_DIR, goldenCaseNames, loadGoldenCase, relativeError } from '../../helpers/golden.js';

/** float32 factors against float64 (relative Frobenius; measured ≤ 2.3e-7 on both backends). */
const TOLERANCE = 1e-4;

interface LayerSummary {
  layer: string;
  directory: string;
  arrays: { A: string; B: string };
  parameters: string[];
  inSize: number;
  outSize: number;
}

async function assertEngineErrorAsync(
  fn: () => Promise<unknown>,
  code: EngineErrorCode,
  message: RegExp,
  details: Record<string, unknown> = {},
): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.status, code === 'cancelled' ? 499 : 422);
    assert.match(e.message, message);
    for (const [key, value] of Object.entries(details)) assert.deepEqual(e.details?.[key], value, key);
    return true;
  });
}

const layersOf = (r: ComputeResult) => r.summary.layers as LayerSummary[];

function goldenFactors(name: string): Map<string, Float64Array> {
  const file = path.join(GOLDEN_DIR, name, 'kfac.npz');
  const arrays = parseNpz(new Uint8Array(readFileSync(file)), file);
  return new Map([...arrays].map(([k, a]) => [k, Float64Array.from(a.data as Float64Array)]));
}

/** θ indices of a layer's block in vec_row([W; b]) order: kernel rows at the kernel's offsets, then the bias row. */
function blockIndices(layout: ParamLayout[], layer: LayerSummary): number[] {
  const out: number[] = [];
  for (const name of layer.parameters) {
    const p = layout.find((q) => q.name === name)!;
    for (let i = 0; i < p.size; i++) out.push(p.offset + i);
  }
  return out;
}

/** Row-major kron(A, B). */
function kron(a: ArrayLike<number>, m: number, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(m * n * m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++)
      for (let k = 0; k < n; k++)
        for (let l = 0; l < n; l++) out[(i * n + k) * m * n + j * n + l] = a[i * m + j] * b[k * n + l];
  return out;
}

/** The dense K (+ shift·I) of a kfac result, P×P. */
function denseK(r: ComputeResult, shift: number): Float64Array {
  const p = r.numParams;
  const k = new Float64Array(p * p);
  for (const layer of layersOf(r)) {
    const block = kron(
      r.arrays[layer.arrays.A].data,
      layer.inSize,
      r.arrays[layer.arrays.B].data,
      layer.outSize,
    );
    const idx = blockIndices(r.parameters, layer);
    idx.forEach((gi, i) => idx.forEach((gj, j) => (k[gi * p + gj] = block[i * idx.length + j])));
  }
  for (let i = 0; i < p; i++) k[i * p + i] += shift;
  return k;
}

/** The first `n` examples of an array with the batch axis first. */
function firstExamples(a: NdArray, n: number): NdArray {
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return {
    dtype: a.dtype,
    shape: [n, ...a.shape.slice(1)],
    data: a.data.slice(0, n * per) as NdArray['data'],
  };
}

const KFAC_CASES = goldenCaseNames().filter((name) => existsSync(path.join(GOLDEN_DIR, name, 'kfac.npz')));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`kfac on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    it('has float64 goldens for the covered Dense-chain cases', () => {
      for (const name of [
        'mlp_relu_cce_fused',
        'mlp_sigmoid_bce_fused',
        'mlp_relu_mse',
        'linear_regression_mse',
      ])
        assert.ok(KFAC_CASES.includes(name), `${name} has no kfac.npz`);
    });

    for (const name of KFAC_CASES) {
      it(`${name}: A and B match the float64 per-example-Jacobian factors (≤ ${TOLERANCE})`, async () => {
        const c = loadGoldenCase(name);
        const baseline = tf.memory().numTensors;
        const r = await compute({ ...c.request, method: { name: 'kfac' } }, { backend });
        assert.equal(tf.memory().numTensors, baseline, 'leaked tensors');
        const golden = goldenFactors(name);
        const layers = layersOf(r);
        assert.deepEqual(
          layers.map((l) => l.layer).sort(),
          [...new Set([...golden.keys()].map((k) => k.replace(/\.[AB]$/, '')))].sort(),
        );
        for (const layer of layers) {
          for (const which of ['A', 'B'] as const) {
            const got = r.arrays[layer.arrays[which]];
            const size = which === 'A' ? layer.inSize : layer.outSize;
            assert.deepEqual(got.shape, [size, size]);
            const err = relativeError(got.data, golden.get(`${layer.layer}.${which}`)!);
            assert.ok(err <= TOLERANCE, `${layer.layer} ${which}: relative error ${err.toExponential(2)}`);
          }
        }
        assert.equal(r.summary.approximation, true);
        assert.ok(r.verification.passed, JSON.stringify(r.verification));
        assert.deepEqual(
          r.verification.checks.map((x) => x.name),
          ['directional_fd', 'full_ggn_product', 'kfac_single_example'],
        );
      });
    }

    for (const name of ['mlp_relu_cce_fused', 'mlp_sigmoid_bce_fused', 'mlp_tanh_mse', 'subset_layer_name']) {
      it(`${name}, one example: A ⊗ B (+ l2·I) equals the exact GGN's layer blocks (≤ ${TOLERANCE})`, async () => {
        const c = loadGoldenCase(name);
        const request: ComputeRequest = {
          ...c.request,
          method: { name: 'kfac' },
          inputs: firstExamples(c.request.inputs as NdArray, 1),
          targets: firstExamples(c.request.targets as NdArray, 1),
        };
        const l2 = (c.request.loss.l2 as number | undefined) ?? 0;
        const r = await compute(request, { backend });
        const g = await compute({ ...request, method: { name: 'ggn' } }, { backend });
        const p = r.numParams;
        const k = denseK(r, l2);
        const ggn = g.arrays['ggn.npy'].data;
        for (const layer of layersOf(r)) {
          const idx = blockIndices(r.parameters, layer);
          const got = idx.flatMap((i) => idx.map((j) => k[i * p + j]));
          const want = idx.flatMap((i) => idx.map((j) => ggn[i * p + j]));
          const err = relativeError(got, want);
          assert.ok(err <= TOLERANCE, `${layer.layer}: relative error ${err.toExponential(2)}`);
        }
        assert.ok(r.verification.passed, JSON.stringify(r.verification));
      });
    }

    it('mc: the sampled B converges to the exact B like 1/√samples (16 → 1024 samples: error ratio ≈ 8)', async () => {
      const c = loadGoldenCase('mlp_relu_cce_fused');
      const exact = await compute({ ...c.request, method: { name: 'kfac' } }, { backend });
      const errorOf = async (samples: number, seed: number) => {
        const r = await compute(
          { ...c.request, method: { name: 'kfac', type: 'mc', samples }, seed },
          { backend },
        );
        assert.equal(r.summary.type, 'mc');
        assert.match(r.summary.note as string, /Monte-Carlo/);
        let diff = 0;
        let norm = 0;
        for (const layer of layersOf(r)) {
          // A does not depend on the targets: the same for both types.
          assert.ok(relativeError(r.arrays[layer.arrays.A].data, exact.arrays[layer.arrays.A].data) <= 1e-6);
          const b = r.arrays[layer.arrays.B].data;
          const e = exact.arrays[layer.arrays.B].data;
          for (let i = 0; i < e.length; i++) {
            diff += (b[i] - e[i]) ** 2;
            norm += e[i] ** 2;
          }
        }
        return Math.sqrt(diff / norm);
      };
      // Seeded: the same seed gives the same estimate.
      assert.equal(await errorOf(16, 1), await errorOf(16, 1));
      // Averaged over 4 seeds so that one unlucky draw cannot decide; √(1024/16) = 8, a factor 2 either way accepted.
      const seeds = [1, 2, 3, 4];
      const mean = async (s: number) => {
        let sum = 0;
        for (const seed of seeds) sum += await errorOf(s, seed);
        return sum / seeds.length;
      };
      const few = await mean(16);
      const many = await mean(1024);
      const ratio = few / many;
      if (process.env.KFAC_SHOW) console.log(`mc ${backend}: ${few} → ${many}, ratio ${ratio}`);
      assert.ok(
        ratio >= 4 && ratio <= 16,
        `error ${few.toExponential(2)} → ${many.toExponential(2)}: ratio ${ratio}`,
      );
      assert.ok(many <= 0.1, `1024 samples: relative error ${many}`);
    });

    it('inverse products solve (K + δI) x = v (residual ≤ 1e-4) and products are K v', async () => {
      for (const [name, damping] of [
        ['mlp_tanh_cce_fused', 0.01],
        ['subset_layer_name', 0], // l2 = 0.1 keeps K + l2·I invertible without damping
        ['linear_regression_mse', 0], // nonsingular factors: no damping needed
      ] as const) {
        const c = loadGoldenCase(name);
        const p = c.numParams;
        const vectors = [
          Array.from({ length: p }, (_, i) => Math.sin(i + 1)),
          Array.from({ length: p }, (_, i) => Math.cos(3 * i)),
        ];
        const r = await compute({ ...c.request, method: { name: 'kfac', vectors, damping } }, { backend });
        const l2 = (c.request.loss.l2 as number | undefined) ?? 0;
        const k = denseK(r, l2);
        const products = r.arrays['products.npy'];
        const inverse = r.arrays['inverse_products.npy'];
        assert.deepEqual(products.shape, [2, p]);
        assert.deepEqual(inverse.shape, [2, p]);
        vectors.forEach((v, row) => {
          const kv = Float64Array.from({ length: p }, (_, i) =>
            v.reduce((s, x, j) => s + k[i * p + j] * x, 0),
          );
          const err = relativeError(products.data.subarray(row * p, (row + 1) * p), kv);
          assert.ok(err <= 1e-5, `${name} product ${row}: ${err}`);
          const x = inverse.data.subarray(row * p, (row + 1) * p);
          const residual = Float64Array.from(
            { length: p },
            (_, i) => x.reduce((s, xj, j) => s + k[i * p + j] * xj, 0) + damping * x[i] - v[i],
          );
          const rel = relativeError(
            residual.map((d, i) => d + v[i]),
            v,
          );
          assert.ok(rel <= 1e-4, `${name} inverse ${row}: residual ${rel.toExponential(2)}`);
        });
        const check = r.verification.checks.find((x) => x.name === 'kfac_inverse_residual')!;
        assert.ok(check.passed && !check.inconclusive && check.value! <= 1e-4, JSON.stringify(check));
        assert.ok(r.verification.passed, JSON.stringify(r.verification));
      }
    });

    it('refuses damping 0 when a factor is singular (softmax B), saying to pass damping > 0', async () => {
      const c = loadGoldenCase('mlp_tanh_cce_fused');
      const vectors = [Array.from({ length: c.numParams }, (_, i) => Math.sin(i))];
      await assertEngineErrorAsync(
        () => compute({ ...c.request, method: { name: 'kfac', vectors } }, { backend }),
        'invalid_method',
        /singular.*damping > 0/,
      );
    });
  });
}

describe('kfac coverage and artifact names', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('refuses a conv model with a 422 naming the layer and what kfac covers', async () => {
    const c = loadGoldenCase('cnn_two_conv_maxpool');
    await assertEngineErrorAsync(
      () => compute({ ...c.request, method: { name: 'kfac' } }),
      'invalid_method',
      /kfac covers .*Dense.*layer "conv2d" \(Conv2D\) is not one of them.*"ggn"/,
      { layer: 'conv2d' },
    );
  });

  it('refuses huber, a softmax inside the chain, and a multi-output model', async () => {
    await assertEngineErrorAsync(
      () => compute({ ...loadGoldenCase('mlp_tanh_huber').request, method: { name: 'kfac' } }),
      'invalid_method',
      /the loss is huber/,
    );
    await assertEngineErrorAsync(
      () => compute({ ...loadGoldenCase('mlp_softmax_layers').request, method: { name: 'kfac' } }),
      'invalid_method',
      /softmax, which is not elementwise|is not one of them/,
    );
    await assertEngineErrorAsync(
      () => compute({ ...loadGoldenCase('multi_io_two_outputs').request, method: { name: 'kfac' } }),
      'invalid_method',
      /inputs and 2 outputs/,
    );
  });

  it('covers a kernel selected without its bias (no bias row) and a bias alone (A = [1])', async () => {
    const c = loadGoldenCase('mlp_tanh_mse');
    const r = await compute({
      ...c.request,
      method: { name: 'kfac' },
      parameters: { include: ['dense/kernel', 'dense_1/bias'] },
    });
    const layers = layersOf(r);
    assert.deepEqual(
      layers.map((l) => [l.layer, l.inSize, l.outSize, l.parameters]),
      [
        ['dense', 4, 6, ['dense/kernel']],
        ['dense_1', 1, 3, ['dense_1/bias']],
      ],
    );
    // Against the full golden: A without its bias row and column; B unchanged.
    const golden = goldenFactors('mlp_tanh_mse');
    const fullA = golden.get('dense.A')!;
    const kernelA = Array.from({ length: 16 }, (_, i) => fullA[Math.floor(i / 4) * 5 + (i % 4)]);
    assert.ok(relativeError(r.arrays[layers[0].arrays.A].data, kernelA) <= TOLERANCE);
    assert.ok(relativeError(r.arrays[layers[0].arrays.B].data, golden.get('dense.B')!) <= TOLERANCE);
    assert.deepEqual(Array.from(r.arrays[layers[1].arrays.A].data), [1]);
    assert.ok(r.verification.passed, JSON.stringify(r.verification));
  });

  it('names artifacts kfac/<index>-<sanitized layer name>/{A,B}.npy, whatever the layer is called', async () => {
    const c = loadGoldenCase('mlp_tanh_mse');
    const hostile = ['../../etc/passwd', 'a\\b\u0000\u001b[31m/..'];
    const modelJson = structuredClone(c.request.model.modelJson) as any;
    const rename: Record<string, string> = { dense: hostile[0], dense_1: hostile[1] };
    for (const layer of modelJson.modelTopology.config.layers) layer.config.name = rename[layer.config.name];
    for (const group of modelJson.weightsManifest) {
      for (const w of group.weights) {
        const [layer, weight] = w.name.split('/');
        w.name = `${rename[layer]}/${weight}`;
      }
    }
    const r = await compute({
      ...c.request,
      model: { ...c.request.model, modelJson },
      method: { name: 'kfac' },
    });
    const names = Object.keys(r.arrays);
    assert.deepEqual(names, [
      'kfac/0-______etc_passwd/A.npy',
      'kfac/0-______etc_passwd/B.npy',
      'kfac/1-a_b___31m___/A.npy',
      'kfac/1-a_b___31m___/B.npy',
    ]);
    for (const name of names) assert.ok(isSafeArtifactName(name), name);
    assert.deepEqual(
      layersOf(r).map((l) => l.layer),
      hostile,
    );
    assert.match(r.summary.artifactNames as string, /index.*"_"/);
  });

  it('reports progress, and cancels between chunks without leaking tensors', async () => {
    const c = loadGoldenCase('mlp_relu_cce_fused');
    const seen: [number, number][] = [];
    await compute(
      { ...c.request, method: { name: 'kfac', type: 'mc', samples: 4 } },
      {
        onProgress: (a, b) => seen.push([a, b]),
      },
    );
    assert.ok(seen.length > 0 && seen.at(-1)![0] === seen.at(-1)![1] && seen.at(-1)![1] >= 1);
    const controller = new AbortController();
    const baseline = tf.memory().numTensors;
    await assertEngineErrorAsync(
      () =>
        compute(
          { ...c.request, method: { name: 'kfac' } },
          {
            signal: controller.signal,
            onProgress: () => controller.abort(),
          },
        ),
      'cancelled',
      /cancelled/,
    );
    assert.equal(tf.memory().numTensors, baseline, 'cancellation leaked tensors');
  });

  it('the inverse residual check fails for a wrong solution and is inconclusive when float32 cannot tell', () => {
    const layer = {
      index: 0,
      name: 'd',
      step: 0,
      kernel: null,
      bias: { name: 'd/bias', layer: 'd', shape: [2], offset: 0, size: 2 },
      inputs: 3,
      units: 2,
      inSize: 1,
      outSize: 2,
      directory: 'kfac/0-d',
    };
    const blocks = [{ layer, a: Float64Array.of(1), b: Float64Array.of(2, 0, 0, 4) }];
    const v = Float64Array.of(1, 1);
    const right = kfacInverseResidualCheck(blocks, {
      shift: 0,
      rhs: [v],
      solutions: [Float64Array.of(0.5, 0.25)],
      conditionNumber: 2,
    });
    assert.ok(right.passed && right.value! < 1e-12, JSON.stringify(right));
    const wrong = kfacInverseResidualCheck(blocks, {
      shift: 0,
      rhs: [v],
      solutions: [Float64Array.of(0.5, 0.3)],
      conditionNumber: 2,
    });
    assert.ok(!wrong.passed && !wrong.inconclusive, JSON.stringify(wrong));
    const illConditioned = kfacInverseResidualCheck(blocks, {
      shift: 0,
      rhs: [v],
      solutions: [Float64Array.of(0.5, 0.3)],
      conditionNumber: 1e9,
    });
    assert.ok(illConditioned.inconclusive, JSON.stringify(illConditioned));
  });

  it('isSafeArtifactName accepts nested safe names and rejects traversal, absolute paths and control characters', () => {
    for (const ok of ['hessian.npy', 'kfac/0-dense/A.npy', 'a/b/c/d.npy'])
      assert.ok(isSafeArtifactName(ok), ok);
    for (const bad of [
      '../x.npy',
      'kfac/../A.npy',
      '/abs.npy',
      'a//b.npy',
      'a\\b.npy',
      'a/b/c/d/e.npy',
      '.',
      'x\u0000.npy',
      '',
      'kfac/.hidden',
    ])
      assert.ok(!isSafeArtifactName(bad), JSON.stringify(bad));
  });
});
