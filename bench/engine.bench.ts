/**
 * Engine benchmark (not a test): per backend, the time of one gradient, one Hessian-vector product, their ratio,
 * and a full dense Hessian, for an MLP 784-64-10 with a batch of 128 and a small CNN. Run:
 *   npm run bench:engine            (all available backends)
 *   npm run bench:engine -- cpu     (one backend)
 * Figures are recorded in docs/benchmarks.md.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../src/engine/backend.js';
import { compute } from '../src/engine/compute.js';
import { createRng } from '../src/engine/estimators/rng.js';
import { buildObjective } from '../src/engine/objective.js';
import { hessianOperator, lossGradient } from '../src/engine/operators/hessian-operator.js';
import { prepareRequest } from '../src/contract/request.js';
import type { ComputeRequest } from '../src/contract/types.js';
import { random, randomizeWeights, toArtifacts, uniform } from '../test/unit/model/helpers.js';

const BATCH = 128;

async function mlp(): Promise<Omit<ComputeRequest, 'method'>> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 64, activation: 'tanh', inputShape: [784] }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  randomizeWeights(model, 1);
  const artifacts = await toArtifacts(model);
  model.dispose();
  return {
    model: artifacts,
    inputs: { dtype: 'float32', shape: [BATCH, 784], data: uniform(random(2), BATCH * 784, 0, 1) },
    targets: { dtype: 'int32', shape: [BATCH], data: Int32Array.from({ length: BATCH }, (_, i) => i % 10) },
    loss: { name: 'sparse_categorical_crossentropy' },
  };
}

async function cnn(): Promise<Omit<ComputeRequest, 'method'>> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [16, 16, 1] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'tanh' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  randomizeWeights(model, 3);
  const artifacts = await toArtifacts(model);
  model.dispose();
  return {
    model: artifacts,
    inputs: { dtype: 'float32', shape: [BATCH, 16, 16, 1], data: uniform(random(4), BATCH * 256, 0, 1) },
    targets: { dtype: 'int32', shape: [BATCH], data: Int32Array.from({ length: BATCH }, (_, i) => i % 10) },
    loss: { name: 'sparse_categorical_crossentropy' },
  };
}

/** Median of `repeats` timings in milliseconds, after one warm-up call. */
async function time(fn: () => unknown | Promise<unknown>, repeats: number): Promise<number> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[Math.floor(repeats / 2)];
}

async function measure(name: string, req: Omit<ComputeRequest, 'method'>, backend: BackendChoice) {
  const plan = prepareRequest({ ...req, method: { name: 'trace' } } as ComputeRequest);
  const objective = buildObjective(plan.model, req.inputs, req.targets, plan.loss, plan.layout);
  const theta = objective.theta.dataSync() as Float32Array;
  const v = createRng(0).gaussianVector(plan.numParams);
  const operator = hessianOperator(objective);
  const grad = await time(() => lossGradient(objective, theta), 5);
  const hvp = await time(() => operator.matvec(v), 5);
  objective.dispose();
  const P = plan.numParams;
  const denseGiB = (P * P * 4) / 1024 ** 3;
  let full: string;
  if (denseGiB <= 0.25) {
    const t0 = performance.now();
    await compute({ ...req, method: { name: 'hessian' } }, { backend });
    full = `${((performance.now() - t0) / 1000).toFixed(1)} s (measured)`;
  } else {
    full = `≈ ${((P * hvp) / 1000 / 60).toFixed(0)} min (P × HVP; the ${denseGiB.toFixed(1)} GiB result exceeds the default guard)`;
  }
  console.log(
    `| ${backend} | ${name} | ${P} | ${grad.toFixed(1)} | ${hvp.toFixed(1)} | ${(hvp / grad).toFixed(2)} | ${full} |`,
  );
}

const requested = process.argv.slice(2) as BackendChoice[];
const backends: BackendChoice[] = requested.length > 0 ? requested : ['cpu', 'wasm'];
console.log(
  `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, batch ${BATCH}\n`,
);
console.log('| backend | model | P | gradient ms | HVP ms | HVP / gradient | full Hessian |');
console.log('|---|---|---|---|---|---|---|');
for (const backend of backends) {
  try {
    await initBackend(backend);
  } catch (e) {
    console.log(`| ${backend} | unavailable: ${(e as Error).message.split('.')[0]} | | | | | |`);
    continue;
  }
  await measure('MLP 784-64-10 (tanh, softmax CE)', await mlp(), backend);
  await measure('CNN 16×16×1, conv4-pool-conv8-pool-dense10', await cnn(), backend);
}
