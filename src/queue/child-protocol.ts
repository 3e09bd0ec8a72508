/**
 * The IPC protocol between a worker process (`child-pool.ts`) and its compute children (`compute-child.ts`).
 *
 * A child announces `ready` once TF.js is loaded and its backend selected, then runs one job at a time: the parent
 * sends `start`, the child answers with any number of `progress` messages and exactly one `result` or `error`.
 * `abort` asks it to stop the job at its next unit of work (it then answers `error` with code `cancelled`). Every
 * job message carries the job id, so a late message about an earlier job is never taken for the current one.
 */
import type { ComputeTask, JobData, JobOutcome, PieceReport } from '../contract/job.js';

/** What a child returns for a task: a job's (or a combination's) outcome, or a piece's report. */
export type TaskOutcome = JobOutcome | PieceReport;

export type StopReason = 'cancelled' | 'timeout';

export type ParentMessage =
  | { type: 'start'; jobId: string; data: JobData; task?: ComputeTask }
  | { type: 'abort'; jobId: string; reason: StopReason };

/** A job's failure as the child classified it: `retry` is false for what retrying cannot fix (bad input, ...). */
export interface ChildFailure {
  code: string;
  message: string;
  retry: boolean;
}

export type ChildMessage =
  | { type: 'ready'; backend: string }
  | { type: 'progress'; jobId: string; completed: number; total: number }
  | { type: 'result'; jobId: string; outcome: TaskOutcome }
  | ({ type: 'error'; jobId: string } & ChildFailure);
