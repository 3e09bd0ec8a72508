/** Names shared by the producer (API) and the workers, so both sides address the same Redis keys. */

/** The BullMQ queue name; BullMQ's own keys are `<QUEUE_PREFIX>:hessian-jobs:*`. */
export const QUEUE_NAME = 'hessian-jobs';

/** Pub/sub channel on which the API asks every worker to cancel a job id. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:svc:cancel`;
}

/** Set (with a TTL) when a job's cancellation is requested, so a worker picking the job up later still sees it. */
export function cancelFlagKey(prefix: string, jobId: string): string {
  return `${prefix}:svc:cancel:${jobId}`;
}

/** Idempotency-Key → job id mapping. */
export function idempotencyKey(prefix: string, hashedKey: string): string {
  return `${prefix}:svc:idem:${hashedKey}`;
}

/** Hash of job outcome counters and duration histogram, written by workers and read by /metrics. */
export function statsKey(prefix: string): string {
  return `${prefix}:svc:stats`;
}

/** Job duration histogram bucket upper bounds, in seconds. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200];

/** The BullMQ id of piece `index` of a split job (a child of the job's flow; `:` is not allowed in custom ids). */
export function pieceJobId(jobId: string, index: number): string {
  return `${jobId}-piece-${index}`;
}
