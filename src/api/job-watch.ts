/**
 * Watching a job from the API: the views of a job as they change (status, progress, pieces, callback), read from
 * Redis at a fixed interval, for the server-sent events stream and the long-polling GET. A view is a whole
 * snapshot, so a client that missed some loses nothing: the next one says everything.
 */
import type { JobView } from '../contract/job.js';
import type { JobProducer } from '../queue/producer.js';

export const FINAL_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

export const isFinal = (view: JobView): boolean => FINAL_STATUSES.has(view.status);

/**
 * A short token naming what a view shows (status, attempt, progress, pieces, callback state): the `id:` of an
 * event. Two views with the same token tell a client the same thing.
 */
export function viewToken(view: JobView): string {
  const s = view.shards;
  const pieces = s ? `${s.queued}.${s.running}.${s.succeeded}.${s.failed}.${s.cancelled}` : '-';
  const cb = view.callback ? `${view.callback.state}.${view.callback.attempts.length}` : '-';
  return `${view.status}-${view.attempts}-${view.progress.completed}.${view.progress.total}-${pieces}-${cb}`;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Yields the job's view whenever its token changes, starting with the current one unless its token is `since`
 * (a resuming client has it already); ends after a final view (always yielded, so a resumed stream that missed
 * nothing still ends with it), when the job disappears (yields nothing more), or when `signal` aborts.
 */
export async function* jobViews(
  jobs: JobProducer,
  id: string,
  owner: string,
  opts: { signal: AbortSignal; intervalMs: number; since?: string },
): AsyncGenerator<{ view: JobView; token: string }> {
  let last = opts.since;
  while (!opts.signal.aborted) {
    const view = await jobs.view(id, owner);
    if (!view) return;
    const token = viewToken(view);
    if (token !== last || isFinal(view)) {
      last = token;
      yield { view, token };
      if (isFinal(view)) return;
    }
    await pause(opts.intervalMs, opts.signal);
  }
}

/** Open watches (event streams and long polls), bounded per process and per principal. */
export class WatchLimiter {
  private readonly byOwner = new Map<string, number>();
  private total = 0;

  constructor(
    readonly maxTotal: number,
    readonly maxPerOwner: number,
  ) {}

  /** Takes a slot for `owner`; returns its release, or null when full. */
  acquire(owner: string): (() => void) | null {
    const mine = this.byOwner.get(owner) ?? 0;
    if (this.total >= this.maxTotal || mine >= this.maxPerOwner) return null;
    this.total++;
    this.byOwner.set(owner, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byOwner.get(owner) ?? 1) - 1;
      if (left > 0) this.byOwner.set(owner, left);
      else this.byOwner.delete(owner);
    };
  }

  get open(): number {
    return this.total;
  }
}
