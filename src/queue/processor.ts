/**
 * Runs one job inside a compute child (see `compute-child.ts`): loads its uploads, computes with the engine, writes
 * the result files and returns the outcome. Failures are classified here, where the error's class is known, into a
 * {@link ChildFailure} the worker turns into BullMQ's retry decision: bad input (EngineError.isInputError),
 * cancellation and vanished uploads are final; anything else is retried with backoff.
 */
import type { Config } from '../config/env.js';
import { isEngineError } from '../contract/errors.js';
import { buffer } from 'node:stream/consumers';
import { compute, computePiece, type ComputeResult, type PartialResult } from '../engine/index.js';
import { encodeNpy, parseNpy } from '../contract/data/npy.js';
import type { NdArray } from '../contract/ndarray.js';
import { notFound, type ArtifactStore } from '../storage/artifact-store.js';
import { createArtifactStore } from '../storage/create-store.js';
import { loadArray, loadDatasets, loadModelArtifacts } from '../storage/bundles.js';
import { writeArtifacts, type ArtifactInfo } from '../storage/result-artifacts.js';
import type { ChildFailure } from './child-protocol.js';
import { injectFault } from './fault-injection.js';
import {
  PIECES_DIR,
  type ComputeTask,
  type JobData,
  type JobOutcome,
  type JobProgress,
  type PieceReport,
} from '../contract/job.js';

/** Progress is reported at most this often (plus the final unit). */
const PROGRESS_INTERVAL_MS = 250;

export interface JobRunner {
  /**
   * Runs a job's `task` (default: all of it) and writes its results under `results/<job id>/` (atomically, so a
   * re-run overwrites cleanly): a whole job's or a combination's artifacts, or a piece's arrays under
   * `pieces/<index>/`.
   * @throws whatever the engine or the storage throws; classify it with {@link describeFailure}.
   */
  run(
    data: JobData,
    signal: AbortSignal,
    onProgress: (p: JobProgress) => void,
    task?: ComputeTask,
  ): Promise<JobOutcome | PieceReport>;
}

/** A result file's bytes (a piece's array, read back to combine). */
async function readResult(store: ArtifactStore, jobId: string, name: string): Promise<Uint8Array> {
  const opened = await store.openResult(jobId, name);
  if (!opened) throw notFound(`result ${name} of job ${jobId}`);
  return new Uint8Array(await buffer(opened.stream));
}

function outcomeOf(result: ComputeResult, artifacts: ArtifactInfo[]): JobOutcome {
  return {
    method: result.method,
    numParams: result.numParams,
    backend: result.backend,
    summary: result.summary,
    verification: result.verification,
    timings: result.timings,
    artifacts,
  };
}

export function createJobRunner(config: Readonly<Config>): JobRunner {
  const store = createArtifactStore(config.storage);
  const writeAll = (jobId: string, arrays: ComputeResult['arrays'], seed: number | undefined) =>
    writeArtifacts(
      arrays,
      (name, bytes) => store.writeResult(jobId, name, bytes),
      async (index) => {
        if (index === 0) await injectFault('write', seed);
      },
    );
  return {
    async run(data, signal, report, task = { kind: 'whole' }) {
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
      const request = {
        model,
        inputs,
        targets,
        loss: data.loss,
        method: data.method,
        parameters: data.parameters,
        vectors,
        seed: data.seed,
      };
      const options = { onProgress, signal, maxDenseBytes: config.maxDenseBytes, backend: config.backend };

      if (task.kind === 'piece') {
        const { index } = task.piece;
        const out = await computePiece(request, task.piece, options);
        if (out.kind === 'empty') return { kind: 'empty', index };
        if (out.kind === 'whole') {
          return {
            kind: 'whole',
            index,
            outcome: outcomeOf(out.result, await writeAll(data.jobId, out.result.arrays, data.seed)),
          };
        }
        const files: Array<{ array: string; name: string }> = [];
        for (const [array, value] of Object.entries(out.partial.arrays)) {
          const name = `${PIECES_DIR}/${index}/${array}.npy`;
          await store.writeResult(data.jobId, name, encodeNpy(value));
          files.push({ array, name });
          if (files.length === 1) await injectFault('write', data.seed);
        }
        return {
          kind: 'partial',
          index,
          start: out.partial.start,
          end: out.partial.end,
          unit: out.plan.unit,
          units: out.plan.units,
          seconds: out.seconds,
          values: out.partial.values,
          files,
        };
      }

      if (task.kind === 'combine') {
        const partials = task.pieces.filter((p) => p.kind === 'partial');
        const parts: PartialResult[] = [];
        for (const p of partials) {
          const arrays: PartialResult['arrays'] = {};
          for (const f of p.files)
            arrays[f.array] = parseNpy(await readResult(store, data.jobId, f.name), f.name);
          parts.push({ start: p.start, end: p.end, values: p.values, arrays });
        }
        const result = await compute(request, { ...options, parts });
        const outcome = outcomeOf(result, await writeAll(data.jobId, result.arrays, data.seed));
        await store.removeResultDir(data.jobId, PIECES_DIR);
        return outcome;
      }

      const result = await compute(request, options);
      return outcomeOf(result, await writeAll(data.jobId, result.arrays, data.seed));
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
