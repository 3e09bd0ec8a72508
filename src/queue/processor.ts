/**
 * Runs one job inside a compute child (see `compute-child.ts`): loads its uploads, computes with the engine, writes
 * the result files and returns the outcome. Failures are classified here, where the error's class is known, into a
 * {@link ChildFailure} the worker turns into BullMQ's retry decision: bad input (EngineError.isInputError),
 * cancellation and vanished uploads are final; anything else is retried with backoff.
 */
import type { Config } from '../config/env.js';
import { isEngineError } from '../contract/errors.js';
import { buffer } from 'node:stream/consumers';
import {
  compute,
  computePiece,
  type ComputeResult,
  type PartialResult,
  type PieceOutcome,
} from '../engine/index.js';
import { encodeNpy, parseNpy } from '../contract/data/npy.js';
import type { NdArray } from '../contract/ndarray.js';
import { notFound, type ArtifactStore } from '../storage/artifact-store.js';
import { createArtifactStore } from '../storage/create-store.js';
import { loadArray, loadDatasets, loadModelArtifacts } from '../storage/bundles.js';
import { writeArtifacts, type ArtifactInfo } from '../storage/result-artifacts.js';
import type { ChildFailure } from './child-protocol.js';
import { injectFault } from './fault-injection.js';
import {
  datasetGroup,
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

/**
 * The loss of one group of a job's datasets as its share of the job's loss: its examples' mean (or sum) weighted
 * by its share of the examples (1 for a sum), so the groups' results add up to the job's. The l2 term belongs to
 * the job once: the first group carries it, divided by its weight.
 */
export function groupShare(
  loss: JobData['loss'],
  examples: readonly number[],
  group: { index: number; count: number },
): { loss: JobData['loss']; examples: number; weight: number } {
  const mine = datasetGroup(examples, group).reduce((a, b) => a + b, 0);
  const total = examples.reduce((a, b) => a + b, 0);
  const weight = loss.reduction === 'sum' ? 1 : mine / total;
  const l2 = loss.l2 ?? 0;
  return { loss: { ...loss, l2: group.index === 0 && l2 > 0 ? l2 / weight : 0 }, examples: mine, weight };
}

/** A piece's report of its partial result, whose arrays were written as `files`. */
export function partialReport(
  index: number,
  out: Extract<PieceOutcome, { kind: 'partial' }>,
  files: Array<{ array: string; name: string }>,
  data?: { index: number; count: number; examples: number; weight: number },
): PieceReport {
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
    ...(data && { data }),
  };
}

/**
 * The pieces' partial results, read back, in unit order: the pieces of one unit range over several dataset groups
 * summed with their weights (in group order, in float64, stored back in the pieces' dtype).
 */
export async function combineGroups(
  pieces: readonly PieceReport[],
  read: (name: string) => Promise<Uint8Array>,
): Promise<PartialResult[]> {
  const byRange = new Map<string, Extract<PieceReport, { kind: 'partial' }>[]>();
  for (const p of pieces) {
    if (p.kind !== 'partial') continue;
    const key = `${p.start}:${p.end}`;
    byRange.set(key, [...(byRange.get(key) ?? []), p]);
  }
  const parts: PartialResult[] = [];
  for (const members of byRange.values()) {
    members.sort((a, b) => (a.data?.index ?? 0) - (b.data?.index ?? 0));
    const arrays: PartialResult['arrays'] = {};
    const sums = new Map<string, { dtype: string; shape: number[]; data: Float64Array }>();
    for (const member of members) {
      const weight = member.data?.weight ?? 1;
      for (const f of member.files) {
        const array = parseNpy(await read(f.name), f.name);
        if (members.length === 1) {
          arrays[f.array] = array;
          continue;
        }
        let sum = sums.get(f.array);
        if (!sum)
          sums.set(
            f.array,
            (sum = { dtype: array.dtype, shape: array.shape, data: new Float64Array(array.data.length) }),
          );
        const src = array.data as Float32Array | Float64Array;
        for (let i = 0; i < sum.data.length; i++) sum.data[i] += weight * src[i];
      }
    }
    for (const [name, sum] of sums) {
      arrays[name] =
        sum.dtype === 'float32'
          ? { dtype: 'float32', shape: sum.shape, data: Float32Array.from(sum.data) }
          : { dtype: 'float64', shape: sum.shape, data: sum.data };
    }
    const [first] = members;
    parts.push({ start: first.start, end: first.end, values: first.values, arrays });
  }
  return parts;
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
      const datasetIds = data.datasetIds ?? [data.datasetId];
      const vectors: NdArray | undefined = data.vectorsId
        ? await loadArray(store, data.vectorsId)
        : undefined;
      /** The request over the given datasets (all of the job's by default) and loss. */
      const requestFor = async (ids = datasetIds, loss = data.loss) => {
        const { inputs, targets } = await loadDatasets(store, ids);
        return {
          model,
          inputs,
          targets,
          loss,
          method: data.method,
          parameters: data.parameters,
          vectors,
          seed: data.seed,
        };
      };
      const options = { onProgress, signal, maxDenseBytes: config.maxDenseBytes, backend: config.backend };

      if (task.kind === 'piece') {
        const { data: group, ...unitPiece } = task.piece;
        const index = unitPiece.index + (group ? group.index * unitPiece.count : 0);
        let weighted: { index: number; count: number; examples: number; weight: number } | undefined;
        let out: PieceOutcome;
        if (group) {
          // The examples of one group of datasets, with the loss as that group's share of the job's loss.
          const examples = data.examples ?? (await loadDatasets(store, datasetIds)).examples;
          const share = groupShare(data.loss, examples, group);
          weighted = { ...group, examples: share.examples, weight: share.weight };
          out = await computePiece(await requestFor(datasetGroup(datasetIds, group), share.loss), unitPiece, {
            ...options,
            additiveOnly: true,
          });
          if (out.kind === 'empty' && out.runsWhole) {
            // The request does not add over examples: the job's first piece runs it on every dataset.
            if (index !== 0) return { kind: 'empty', index };
            weighted = undefined;
            out = await computePiece(await requestFor(), { index: 0, count: 1 }, options);
          }
        } else {
          out = await computePiece(await requestFor(), unitPiece, options);
        }
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
        return partialReport(index, out, files, weighted);
      }

      if (task.kind === 'combine') {
        const parts = await combineGroups(task.pieces, (name) => readResult(store, data.jobId, name));
        const result = await compute(await requestFor(), { ...options, parts });
        const outcome = outcomeOf(result, await writeAll(data.jobId, result.arrays, data.seed));
        await store.removeResultDir(data.jobId, PIECES_DIR);
        return outcome;
      }

      const result = await compute(await requestFor(), options);
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
