/**
 * The worker's compute children, supervised from the worker process: one long-lived child per concurrency slot,
 * reused from job to job (loading TF.js costs about a second), replaced when it dies.
 *
 * The worker watches every child from outside, so no fault in a child can leave a job running for ever:
 * - a child that dies at any point (while starting, mid-computation, while writing results) fails its job at once
 *   with the retryable `worker_crashed`, and the next job gets a fresh child;
 * - a child not ready within `startTimeoutMs` is killed (then as above);
 * - `JOB_TIMEOUT_MS` and cancellation ask the child to stop at its next unit of work and kill it if it has not
 *   within `stopGraceMs`, so a long uninterruptible unit cannot hold a job past its limit.
 * Nothing here blocks: the worker's event loop stays free to renew job locks.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { siblingEntry, type Entry } from '../runtime/entry.js';
import type { ChildMessage, ParentMessage, StopReason, TaskOutcome } from './child-protocol.js';
import {
  formatFailure,
  type ComputeTask,
  type JobData,
  type JobOutcome,
  type JobProgress,
} from '../contract/job.js';

const ENTRY = siblingEntry(import.meta.url, './processor-entry');

/** How long a dead child's last messages may take to arrive after its exit is seen. */
const DRAIN_MS = 250;
/** How long a closing child gets to exit on its own before it is killed. */
const CLOSE_GRACE_MS = 2000;

export interface ChildPoolOptions {
  /** Children kept: one per concurrent job (WORKER_CONCURRENCY). */
  size: number;
  /** A child not ready within this long is killed (COMPUTE_START_TIMEOUT_MS). */
  startTimeoutMs: number;
  /** Time a child gets to stop a cancelled or timed-out job before it is killed (COMPUTE_STOP_GRACE_MS). */
  stopGraceMs: number;
  logger: Logger;
  /**
   * The child's entry module.
   * @defaultValue `processor-entry`, compiled or source like this module (tests substitute a stand-in)
   */
  entry?: Entry;
  /** The child's environment. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv;
}

export interface RunOptions {
  /** Aborted when the job is cancelled. */
  signal?: AbortSignal;
  /** JOB_TIMEOUT_MS, counted from when the child receives the job. */
  timeoutMs: number;
  onProgress(progress: JobProgress): void;
  /** What to compute. @defaultValue the whole job */
  task?: ComputeTask;
}

/** The error BullMQ gets: retried with backoff when `retry`, failed at once (UnrecoverableError) otherwise. */
export function jobError(code: string, message: string, retry: boolean): Error {
  const text = formatFailure(code, message);
  return retry ? new Error(text) : new UnrecoverableError(text);
}

function stoppedError(reason: StopReason, timeoutMs: number): Error {
  return reason === 'timeout'
    ? jobError('timeout', `the job ran longer than JOB_TIMEOUT_MS=${timeoutMs} ms and was stopped`, false)
    : jobError('cancelled', 'cancelled by request', false);
}

interface ActiveJob {
  id: string;
  onMessage(message: ChildMessage): void;
  /** The child is gone; `description` says how. */
  onGone(description: string): void;
}

/** One supervised child process. */
class ComputeProcess {
  readonly pid: number;
  /** Resolves when the child is ready; rejects with `worker_crashed` when it dies or times out first. */
  readonly ready: Promise<void>;
  isReady = false;
  /** Set once the child has exited and its last messages were read: how it ended. */
  goneDescription?: string;
  private readonly child: ChildProcess;
  private readonly startedAt = Date.now();
  private job?: ActiveJob;
  private startTimer?: NodeJS.Timeout;
  private startTimedOut = false;
  private closing = false;
  private readonly exited: Promise<void>;

  constructor(
    private readonly opts: ChildPoolOptions,
    onGone: (proc: ComputeProcess) => void,
  ) {
    // Only the Node options the entry needs (tsx's loader when running from src/): the worker's own flags
    // (--inspect, ...) are not the child's. stdout and stderr are the worker's, so libtensorflow's lines and crash
    // traces reach its log.
    const entry = opts.entry ?? ENTRY;
    this.child = fork(entry.file, [String(process.pid)], {
      execArgv: entry.execArgv,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pid = this.child.pid ?? -1;
    const log = opts.logger.child({ childPid: this.pid });
    log.info('compute process started');

    let markReady!: () => void;
    let failStart!: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => undefined); // a child may die unclaimed; whoever awaits it sees the error
    this.startTimer = setTimeout(() => {
      this.startTimedOut = true;
      log.warn({ ms: opts.startTimeoutMs }, 'compute process not ready in time: killing it');
      this.kill();
    }, opts.startTimeoutMs);

    this.child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') {
        clearTimeout(this.startTimer);
        this.isReady = true;
        log.info({ ms: Date.now() - this.startedAt, backend: message.backend }, 'compute process ready');
        markReady();
      } else if (this.job && message.jobId === this.job.id) {
        this.job.onMessage(message);
      }
    });
    this.child.on('error', (err) => {
      log.error({ err: err.message }, 'compute process error');
      this.kill();
    });
    // A closed channel without an exit (the child closed it) leaves a child nobody can talk to.
    this.child.on('disconnect', () => {
      if (!this.closing) setTimeout(() => this.kill(), 1000).unref();
    });

    let exitSeen!: () => void;
    this.exited = new Promise((resolve) => (exitSeen = resolve));
    this.child.once('exit', (code, signal) => {
      exitSeen();
      // Messages sent just before the exit (a result) may still be in the channel: read them first.
      const drained = new Promise<void>((resolve) => {
        if (!this.child.connected) return resolve();
        const timer = setTimeout(resolve, DRAIN_MS);
        this.child.once('disconnect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      void drained.then(() => {
        clearTimeout(this.startTimer);
        const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
        const phase = !this.isReady ? 'during start-up' : this.job ? 'while running the job' : 'while idle';
        const description = this.startTimedOut
          ? `the compute process (pid ${this.pid}) did not become ready within COMPUTE_START_TIMEOUT_MS=${opts.startTimeoutMs} ms and was killed`
          : `the compute process (pid ${this.pid}) ${how} ${phase}`;
        this.goneDescription = description;
        if (!this.closing) log.warn({ code, signal, jobId: this.job?.id }, 'compute process exited');
        failStart(jobError('worker_crashed', description, true));
        this.job?.onGone(description);
        onGone(this);
      });
    });
  }

  /** Not exited (as far as this process has seen). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.goneDescription;
  }

  private send(message: ParentMessage): void {
    // A failed send means the channel is broken: the child is of no more use, and its exit fails the job.
    this.child.send(message, (err) => {
      if (err) this.kill();
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /**
   * Runs a job in this (ready, idle) child. Resolves with its outcome; rejects with the job's error as BullMQ
   * should see it (see {@link jobError}).
   */
  run(
    jobId: string,
    data: JobData,
    { signal, timeoutMs, onProgress, task }: RunOptions,
  ): Promise<TaskOutcome> {
    const log = this.opts.logger.child({ childPid: this.pid, jobId });
    return new Promise<TaskOutcome>((resolve, reject) => {
      if (this.goneDescription) return reject(jobError('worker_crashed', this.goneDescription, true));
      let stopReason: StopReason | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const stop = (reason: StopReason): void => {
        if (stopReason) return;
        stopReason = reason;
        this.send({ type: 'abort', jobId, reason });
        graceTimer = setTimeout(() => {
          log.warn(
            { reason, graceMs: this.opts.stopGraceMs },
            'compute process did not stop the job: killing it',
          );
          this.kill();
        }, this.opts.stopGraceMs);
      };
      const onAbort = (): void => stop('cancelled');
      const jobTimer = setTimeout(() => stop('timeout'), timeoutMs);
      const settle = (outcome: { ok: TaskOutcome } | { err: Error }): void => {
        clearTimeout(jobTimer);
        clearTimeout(graceTimer);
        signal?.removeEventListener('abort', onAbort);
        this.job = undefined;
        if ('ok' in outcome) resolve(outcome.ok);
        else reject(outcome.err);
      };
      this.job = {
        id: jobId,
        onMessage: (message) => {
          if (message.type === 'progress') onProgress({ completed: message.completed, total: message.total });
          else if (message.type === 'result') settle({ ok: message.outcome });
          else if (message.type === 'error') {
            const err = stopReason
              ? stoppedError(stopReason, timeoutMs)
              : jobError(message.code, message.message, message.retry);
            settle({ err });
          }
        },
        onGone: (description) =>
          settle({
            err: stopReason
              ? stoppedError(stopReason, timeoutMs)
              : jobError('worker_crashed', description, true),
          }),
      };
      this.send({ type: 'start', jobId, data, task });
      if (signal?.aborted) stop('cancelled');
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Asks the child to exit (closing its channel) and kills it if it has not within a grace period. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.kill(), CLOSE_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The compute children of one worker process. */
export class ChildPool {
  private readonly idle: ComputeProcess[] = [];
  private readonly all = new Set<ComputeProcess>();
  private closed = false;

  constructor(private readonly opts: ChildPoolOptions) {}

  /** Pids of the live children (for logs and tests). */
  pids(): number[] {
    return [...this.all].map((p) => p.pid);
  }

  /**
   * Runs a job in a ready child (starting one when none is idle).
   * @throws the job's error as BullMQ should see it: `worker_crashed` (retryable) when the child dies at any point,
   * `cancelled` or `timeout` (final) when stopped, or the child's own classification of the failure.
   */
  async run<T extends TaskOutcome = JobOutcome>(
    jobId: string,
    data: JobData,
    options: RunOptions,
  ): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw stoppedError('cancelled', options.timeoutMs);
    const proc = this.acquire();
    try {
      if (!proc.isReady) {
        let onAbort!: () => void;
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(stoppedError('cancelled', options.timeoutMs));
          signal?.addEventListener('abort', onAbort, { once: true });
        });
        try {
          await Promise.race([proc.ready, aborted]);
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      }
      this.opts.logger.info({ jobId, childPid: proc.pid }, 'job handed to compute process');
      return (await proc.run(jobId, data, options)) as T;
    } finally {
      this.release(proc);
    }
  }

  private acquire(): ComputeProcess {
    if (this.closed) throw jobError('worker_closing', 'the worker is shutting down', true);
    const usable = this.idle.filter((p) => p.alive);
    const proc = usable.find((p) => p.isReady) ?? usable[0] ?? this.spawn();
    const i = this.idle.indexOf(proc);
    if (i >= 0) this.idle.splice(i, 1);
    return proc;
  }

  private release(proc: ComputeProcess): void {
    if (!proc.alive) return;
    if (this.closed || this.idle.length >= this.opts.size) void proc.close();
    else this.idle.push(proc);
  }

  private spawn(): ComputeProcess {
    const proc = new ComputeProcess(this.opts, (gone) => {
      this.all.delete(gone);
      const i = this.idle.indexOf(gone);
      if (i >= 0) this.idle.splice(i, 1);
    });
    this.all.add(proc);
    return proc;
  }

  /** Stops every child (after the worker has finished its jobs). */
  async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    await Promise.all([...this.all].map((p) => p.close()));
  }
}
