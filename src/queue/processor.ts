/**
 * Runs one job inside a compute child (see `compute-child.ts`): loads its uploads, computes with the engine, writes
 * the result files and returns the outcome. Failures are classified here, where the error's class is known, into a
 * {@link ChildFailure} the worker turns into BullMQ's retry decision: bad input (EngineError.isInputError),
 * cancellation and vanished uploads are final; anything else is retried with backoff.
 */
import type { Config } from '../config/env.js';
import { isEngineError } from '../contract/errors.js';
import { compute } from '../engine/index.js';
import type { NdArray } from '../contract/ndarray.js';
import { createArtifactStore } from '../storage/create-store.js';
import { loadArray, loadDatasets, loadModelArtifacts } from '../storage/bundles.js';
import { writeArtifacts } from '../storage/result-artifacts.js';
import type { ChildFailure } from './child-protocol.js';
import { injectFault } from './fault-injection.js';
import type { JobData, JobOutcome, JobProgress } from '../contract/job.js';

/** Progress is reported at most this often (plus the final unit). */
const PROGRESS_INTERVAL_MS = 250;

export interface JobRunner {
  /**
   * Computes a job and writes its results under `results/<job id>/` (atomically, so a re-run overwrites cleanly).
   * @throws whatever the engine or the storage throws; classify it with {@link describeFailure}.
   */
  run(data: JobData, signal: AbortSignal, onProgress: (p: JobProgress) => void): Promise<JobOutcome>;
}

export function createJobRunner(config: Readonly<Config>): JobRunner {
  const store = createArtifactStore(config.storage);
  return {
    async run(data, signal, report) {
      let lastSent = 0;
      let computing = false;
      const onProgress = (completed: number, total: number): void => {
        if (!computing && completed > 0) {
          computing = true;
          void injectFault('compute', data.seed);
        }
        const now = Date.now();
        if (completed < total && now - lastSent < PROGRESS_INTERVAL_MS) return;
        lastSent = now;
        report({ completed, total });
      };

      const model = await loadModelArtifacts(store, data.modelId);
      const { inputs, targets } = await loadDatasets(store, data.datasetIds ?? [data.datasetId]);
      const vectors: NdArray | undefined = data.vectorsId
        ? await loadArray(store, data.vectorsId)
        : undefined;
      const result = await compute(
        {
          model,
          inputs,
          targets,
          loss: data.loss,
          method: data.method,
          parameters: data.parameters,
          vectors,
          seed: data.seed,
        },
        { onProgress, signal, maxDenseBytes: config.maxDenseBytes, backend: config.backend },
      );
      const artifacts = await writeArtifacts(
        result.arrays,
        (name, bytes) => store.writeResult(data.jobId, name, bytes),
        async (index) => {
          if (index === 0) await injectFault('write', data.seed);
        },
      );
      return {
        method: result.method,
        numParams: result.numParams,
        backend: result.backend,
        summary: result.summary,
        verification: result.verification,
        timings: result.timings,
        artifacts,
      };
    },
  };
}

/** Classifies a job's failure: a stable code, a message, and whether retrying could help. */
export function describeFailure(err: unknown): ChildFailure {
  if (isEngineError(err)) {
    if (err.code === 'cancelled') return { code: 'cancelled', message: 'cancelled by request', retry: false };
    return { code: err.code, message: err.message, retry: !err.isInputError };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
    // The upload was deleted (or expired) after the job was accepted: retrying cannot bring it back.
    return {
      code: 'upload_missing',
      message: 'the model, dataset or array of this job was deleted before it ran',
      retry: false,
    };
  }
  return { code: 'internal', message: e.message, retry: true };
}
