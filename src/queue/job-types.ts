/** What travels through the queue: the job payload (producer → processor) and its outcome (processor → API). */
import type { LossSpec, MethodSpec, ParameterSelection } from '../engine/spec.js';
import type { Verification } from '../engine/types.js';

export interface JobData {
  jobId: string;
  modelId: string;
  datasetId: string;
  /** An uploaded k×P array for hvp / ggnvp / inverse_hvp (inline vectors travel inside `method`). */
  vectorsId?: string;
  loss: LossSpec;
  method: MethodSpec;
  parameters?: ParameterSelection;
  seed?: number;
}

export type { ArtifactInfo } from '../storage/result-artifacts.js';
import type { ArtifactInfo } from '../storage/result-artifacts.js';

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
