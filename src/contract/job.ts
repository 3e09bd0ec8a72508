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
}

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
    error: z.object({ code: z.string(), message: z.string() }).optional(),
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
