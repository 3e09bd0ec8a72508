/**
 * The sandboxed job processor: runs in a child process forked by the BullMQ worker (see `processor-entry.js`), so
 * a long TF.js computation blocks only this process while the parent keeps renewing the job's lock.
 *
 * Errors: bad input (EngineError.isInputError), cancellation and timeouts throw `UnrecoverableError` (never
 * retried); anything else is a plain Error and BullMQ retries it with backoff.
 */
import { createHash } from 'node:crypto';
import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import { loadConfig } from '../config/env.js';
import { encodeNpy } from '../engine/data/npy.js';
import { isEngineError } from '../engine/errors.js';
import { compute } from '../engine/index.js';
import type { NdArray } from '../engine/ndarray.js';
import { ArtifactStore } from '../storage/artifact-store.js';
import { loadArray, loadDataset, loadModelArtifacts } from '../storage/bundles.js';
import {
  formatFailure,
  type ArtifactInfo,
  type JobData,
  type JobOutcome,
  type JobProgress,
} from './job-types.js';

/** Progress is pushed to Redis at most this often (plus the final unit). */
const PROGRESS_INTERVAL_MS = 250;

const config = loadConfig();
const store = new ArtifactStore(config.dataDir);

/** Throws the right BullMQ error for a failure, tagging the message with a stable code. */
function toJobError(err: unknown, timedOut: boolean): Error {
  if (timedOut) {
    return new UnrecoverableError(
      formatFailure(
        'timeout',
        `the job ran longer than JOB_TIMEOUT_MS=${config.jobTimeoutMs} ms and was stopped`,
      ),
    );
  }
  if (isEngineError(err)) {
    if (err.code === 'cancelled')
      return new UnrecoverableError(formatFailure('cancelled', 'cancelled by request'));
    const message = formatFailure(err.code, err.message);
    return err.isInputError ? new UnrecoverableError(message) : new Error(message);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
    // The upload was deleted (or expired) after the job was accepted: retrying cannot bring it back.
    return new UnrecoverableError(
      formatFailure('upload_missing', 'the model, dataset or array of this job was deleted before it ran'),
    );
  }
  return new Error(formatFailure('internal', e.message));
}

export default async function processHessianJob(
  job: SandboxedJob<JobData, JobOutcome>,
  _token?: string,
  signal?: AbortSignal,
): Promise<JobOutcome> {
  const data = job.data;
  const timeout = AbortSignal.timeout(config.jobTimeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  if (signal?.aborted) throw new UnrecoverableError(formatFailure('cancelled', 'cancelled by request'));

  let lastSent = 0;
  let pending: Promise<unknown> = Promise.resolve();
  const onProgress = (completed: number, total: number): void => {
    const now = Date.now();
    if (completed < total && now - lastSent < PROGRESS_INTERVAL_MS) return;
    lastSent = now;
    const progress: JobProgress = { completed, total };
    // Serialised so an older value never overwrites a newer one.
    pending = pending.then(() => job.updateProgress(progress)).catch(() => undefined);
  };

  try {
    const model = await loadModelArtifacts(store, data.modelId);
    const { inputs, targets } = await loadDataset(store, data.datasetId);
    const vectors: NdArray | undefined = data.vectorsId ? await loadArray(store, data.vectorsId) : undefined;
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
      {
        onProgress,
        signal: combined,
        maxDenseBytes: config.maxDenseParams ** 2 * 4,
        backend: config.backend,
      },
    );
    const artifacts: ArtifactInfo[] = [];
    for (const [name, arr] of Object.entries(result.arrays)) {
      const bytes = encodeNpy(arr);
      await store.writeResult(data.jobId, name, bytes);
      artifacts.push({
        name,
        shape: arr.shape,
        dtype: 'float32',
        bytes: bytes.byteLength,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
    await pending;
    return {
      method: result.method,
      numParams: result.numParams,
      backend: result.backend,
      summary: result.summary,
      verification: result.verification,
      timings: result.timings,
      artifacts,
    };
  } catch (err) {
    await pending;
    if (signal?.aborted && !timeout.aborted)
      throw new UnrecoverableError(formatFailure('cancelled', 'cancelled by request'));
    throw toJobError(err, timeout.aborted && !signal?.aborted);
  }
}
