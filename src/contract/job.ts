/** What travels through the queue: the job payload (producer → processor) and its outcome (processor → API). */
import { z } from 'zod';
import type { LossSpec, MethodSpec, ParameterSelection } from './request-schema.js';
import type { Verification } from './types.js';

/**
 * What a BullMQ job carries: only the job's id (and its method's name, for logs and the dashboard). The job itself
 * (`JobData`) has one copy, in its record, which the worker reads when it takes the job.
 */
export interface QueuedJob {
  jobId: string;
  method: string;
  /** A piece of a split job (a child of the job's flow): which share of the work it computes. */
  piece?: PieceTask;
  /** The parent of a split job: how many pieces it combines. */
  shards?: number;
}

/** The `index`-th of `count` shares of a split job (0-based). */
export interface PieceSpec {
  index: number;
  count: number;
}

/**
 * One piece of a split job: share `index` of `count` of the method's units, over the examples of dataset group
 * `data.index` of `data.count` (all of the job's datasets without `data`).
 */
export interface PieceTask extends PieceSpec {
  data?: PieceSpec;
}

/** What a compute child is asked to do with a job: all of it, one piece, or combine the pieces. */
export type ComputeTask =
  { kind: 'whole' } | { kind: 'piece'; piece: PieceTask } | { kind: 'combine'; pieces: PieceReport[] };

/** A piece's outcome, as its BullMQ job returns it (small: its arrays are files under `pieces/<index>/`). */
export type PieceReport =
  | {
      kind: 'partial';
      index: number;
      /** Its units [start, end) of `units` (`unit`: columns, probes, ...). */
      start: number;
      end: number;
      unit: string;
      units: number;
      seconds: number;
      values: Record<string, unknown>;
      /** Its arrays: the partial result's key and the result file holding it. */
      files: Array<{ array: string; name: string }>;
      /** A piece over one group of the datasets: which, its examples, and its weight in the sum over groups. */
      data?: { index: number; count: number; examples: number; weight: number };
    }
  /** The request runs whole (its route has no independent units): piece 0 computed the job's result. */
  | { kind: 'whole'; index: number; outcome: JobOutcome }
  | { kind: 'empty'; index: number };

/** The result directory of a split job's pieces, removed once they are combined. */
export const PIECES_DIR = 'pieces';

export interface JobData {
  jobId: string;
  modelId: string;
  /** The first (or only) dataset. */
  datasetId: string;
  /** Several datasets whose examples together form the batch, in order (the request's `datasetIds`). */
  datasetIds?: string[];
  /** An uploaded k×P array for hvp / ggnvp / inverse_hvp (inline vectors travel inside `method`). */
  vectorsId?: string;
  loss: LossSpec;
  method: MethodSpec;
  parameters?: ParameterSelection;
  seed?: number;
  /**
   * How the job runs: `shards` > 1 makes it a flow of that many pieces, resolved at submit from `requested`;
   * `dataGroups` > 1 spreads the datasets over that many groups of pieces (shards = dataGroups × unit pieces).
   */
  execution?: { shards: number; requested?: number | 'auto'; dataGroups?: number };
  /** Examples in each dataset, in order (recorded at submit; the weights of dataset groups). */
  examples?: number[];
}

/** One result file of a job (or of `hessian compute`): what the job view and the CLI's result.json list. */
export interface ArtifactInfo {
  name: string;
  shape: number[];
  dtype: 'float32';
  bytes: number;
  /** sha256 of the file, used as its ETag. */
  sha256: string;
}

export interface JobOutcome {
  method: string;
  numParams: number;
  backend: string;
  summary: Record<string, unknown>;
  verification: Verification;
  timings: Record<string, number>;
  artifacts: ArtifactInfo[];
}

/** The progress value a processor reports through `job.updateProgress`. */
export interface JobProgress {
  completed: number;
  total: number;
}

/**
 * Failure reasons are stored by BullMQ as strings; ours start with a stable code (`<code>: <message>`) so the
 * API can report `{code, message}` without parsing free text.
 */
export function formatFailure(code: string, message: string): string {
  return `${code}: ${message}`;
}

export function parseFailure(reason: string | undefined): { code: string; message: string } {
  const m = /^([a-z_]+): ([\s\S]*)$/.exec(reason ?? '');
  return m ? { code: m[1], message: m[2] } : { code: 'internal', message: reason || 'unknown failure' };
}

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const artifactSchema = z.object({
  name: z.string().describe('File name, as the CLI writes it (hessian.npy, eigenvectors.npy, ...).'),
  href: z.string(),
  shape: z.array(z.number().int()),
  dtype: z.string(),
  bytes: z.number().int(),
  sha256: z.string(),
});

export const jobViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(JOB_STATUSES),
    progress: z.object({ completed: z.number(), total: z.number(), fraction: z.number() }),
    request: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    attempts: z.number().int(),
    cancelRequested: z.boolean(),
    shards: z
      .object({
        total: z.number().int(),
        queued: z.number().int(),
        running: z.number().int(),
        succeeded: z.number().int(),
        failed: z.number().int(),
        cancelled: z.number().int(),
      })
      .optional()
      .describe(
        'A split job (execution.shards > 1): its pieces by state. Progress is summed over them; the job succeeds ' +
          'once every piece has and their results are combined.',
      ),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    callback: z
      .object({
        url: z.string(),
        state: z
          .enum(['pending', 'delivered', 'failed'])
          .describe(
            'pending: not sent yet, or being retried; delivered: answered 2xx; failed: out of attempts.',
          ),
        attempts: z.array(
          z.object({
            attempt: z.number().int(),
            at: z.string(),
            status: z.number().int().nullable().describe("The receiver's HTTP status; null when none came."),
            ms: z.number(),
            error: z.string().optional(),
          }),
        ),
      })
      .optional()
      .describe("The job's callback (its secret is never shown) and each delivery attempt so far."),
    result: z
      .object({
        method: z.string(),
        numParams: z.number().int(),
        backend: z.string(),
        summary: z
          .record(z.string(), z.unknown())
          .describe('Scalars and small arrays, including `verification`.'),
        timings: z.record(z.string(), z.number()),
        artifacts: z.array(artifactSchema),
      })
      .optional(),
  })
  .meta({ id: 'Job' });

/** A job as the API shows it: one definition, the zod schema, for the type, the validation and the OpenAPI. */
export type JobView = z.output<typeof jobViewSchema>;

/** The datasets of group `group.index` of `group.count`: a contiguous run, as even as the datasets allow. */
export function datasetGroup<T>(datasets: readonly T[], group: PieceSpec): T[] {
  const first = Math.floor((group.index * datasets.length) / group.count);
  const last = Math.floor(((group.index + 1) * datasets.length) / group.count);
  return datasets.slice(first, last);
}
