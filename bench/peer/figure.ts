/**
 * One project figure of the peer benchmark, in its own process so that its peak RSS is its own:
 *   node --import tsx bench/peer/figure.ts '<FigureJob JSON>'
 * Loads the workload like `hessian compute` does (model.json + shards, x.npy, y.npy, v10.npy), calls the engine's
 * compute() and prints one line RESULT_MARKER + FigureOutcome JSON. Timings are result.timings.methodSeconds (the
 * method alone: no loading, no verification).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeArrayFile, decodeArrayGroupFile } from '../../src/contract/data/decode.js';
import { manifestShardPaths } from '../../src/contract/model/weights-manifest.js';
import type { ComputeRequest, ModelArtifacts } from '../../src/contract/types.js';
import { initBackend } from '../../src/engine/backend.js';
import { compute } from '../../src/engine/compute.js';
import { FIGURES, RESULT_MARKER, type FigureJob, type FigureOutcome } from './figures.js';

/** model.json and the shards its manifest names, from the same directory (as src/cli/compute.ts reads them). */
async function readModel(file: string): Promise<ModelArtifacts> {
  const modelJson = JSON.parse(await readFile(file, 'utf8'));
  const weights = new Map<string, Uint8Array>();
  for (const shard of manifestShardPaths(modelJson)) {
    weights.set(shard, new Uint8Array(await readFile(path.join(path.dirname(file), shard))));
  }
  return { modelJson, weights };
}

async function readArrays(file: string) {
  return decodeArrayGroupFile(new Uint8Array(await readFile(file)), file);
}

/** Tracks the peak of TF.js's tensor byte count (engine.state.numBytes) at the cost of one compare per change. */
function trackPeakBytes(): { reset: () => void; peak: () => number } {
  const state = tf.engine().state as unknown as { numBytes: number };
  let bytes = state.numBytes;
  let peak = bytes;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => bytes,
    set: (v: number) => {
      bytes = v;
      if (v > peak) peak = v;
    },
  });
  return { reset: () => (peak = bytes), peak: () => peak };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(job: FigureJob): Promise<FigureOutcome> {
  const spec = FIGURES.find((f) => f.id === job.figure);
  if (!spec) throw new Error(`unknown figure ${job.figure}`);
  const backend = await initBackend(job.backend);
  const tracker = trackPeakBytes();
  const req: ComputeRequest = {
    model: await readModel(path.join(job.dir, 'model.json')),
    inputs: await readArrays(path.join(job.dir, 'x.npy')),
    targets: await readArrays(path.join(job.dir, 'y.npy')),
    loss: { name: 'sparse_categorical_crossentropy', fromLogits: false },
    method: spec.method as ComputeRequest['method'],
    vectors: spec.vectors
      ? decodeArrayFile(new Uint8Array(await readFile(path.join(job.dir, 'v10.npy'))), 'v10.npy')
      : undefined,
  };
  const runs: { seconds: number; steps?: number; passed: boolean; numParams: number }[] = [];
  const once = async () => {
    const r = await compute(req, { backend: job.backend });
    const steps = spec.perStep ? Number(r.summary.iterations) : undefined;
    runs.push({
      seconds: r.timings.methodSeconds,
      steps,
      passed: r.verification.passed,
      numParams: r.numParams,
    });
  };
  tracker.reset();
  await once();
  const warmup = runs[0].seconds < job.slowSeconds;
  if (warmup) {
    // At least minRepeats runs, more (up to maxRepeats) while they fit in about budgetSeconds.
    const repeats = Math.max(
      job.minRepeats,
      Math.min(job.maxRepeats, Math.floor(job.budgetSeconds / Math.max(runs[0].seconds, 1e-3))),
    );
    runs.length = 0;
    for (let i = 0; i < repeats; i++) await once();
  }
  const perRunMs = runs.map((r) => (r.seconds * 1000) / (r.steps ?? 1));
  return {
    figure: job.figure,
    backend: backend.name,
    numParams: runs[0].numParams,
    methodSeconds: runs.map((r) => r.seconds),
    warmup,
    medianMs: median(perRunMs),
    steps: spec.perStep ? median(runs.map((r) => r.steps!)) : undefined,
    verificationPassed: runs.every((r) => r.passed),
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    tfPeakMB: tracker.peak() / 1024 ** 2,
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as FigureJob;
let outcome: FigureOutcome;
try {
  outcome = await main(job);
} catch (e) {
  outcome = {
    figure: job.figure,
    error: (e as Error).message,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  };
}
console.log(RESULT_MARKER + JSON.stringify(outcome));
