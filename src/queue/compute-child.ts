/**
 * A compute child's main loop (forked by `child-pool.ts` through `processor-entry.ts`): loads TF.js and selects the
 * backend once, says `ready`, then runs the jobs its worker sends, one at a time, for as long as the worker lives.
 * Reusing the child saves the second or so that loading TF.js costs on every job. A long computation blocks only
 * this process; the worker keeps renewing the job's lock and watches this process from outside (crash, timeout,
 * cancellation that does not take).
 */
import { loadConfig } from '../config/env.js';
import { initBackend } from '../engine/backend.js';
import type { ChildMessage, ParentMessage } from './child-protocol.js';
import type { ComputeTask, JobData } from '../contract/job.js';
import { createJobRunner, describeFailure } from './processor.js';

const config = loadConfig();
const backend = await initBackend(config.backend);
const runner = createJobRunner(config);
let current: { jobId: string; controller: AbortController } | undefined;

/** Sends to the worker; a closed channel means the worker is gone and the disconnect handler ends this process. */
function send(message: ChildMessage): void {
  process.send?.(message, undefined, {}, () => undefined);
}

async function runJob(jobId: string, data: JobData, task: ComputeTask | undefined): Promise<void> {
  const controller = new AbortController();
  current = { jobId, controller };
  try {
    const outcome = await runner.run(
      data,
      controller.signal,
      (p) => send({ type: 'progress', jobId, ...p }),
      task,
    );
    send({ type: 'result', jobId, outcome });
  } catch (err) {
    send({ type: 'error', jobId, ...describeFailure(err) });
  } finally {
    current = undefined;
  }
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') {
    if (current) {
      const failure = describeFailure(new Error(`compute process busy with job ${current.jobId}`));
      send({ type: 'error', jobId: message.jobId, ...failure });
    } else void runJob(message.jobId, message.data, message.task);
  } else if (message.type === 'abort' && current?.jobId === message.jobId) {
    current.controller.abort(message.reason);
  }
});

send({ type: 'ready', backend: backend.name });
