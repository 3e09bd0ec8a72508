// Entry file of a compute child, forked by the worker (src/queue/child-pool.ts) with no Node options: this
// JavaScript shim registers tsx itself, then runs the TypeScript main loop (compute-child.ts → processor.ts).
import { Worker } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

// If the worker process dies (SIGKILL, OOM), the IPC channel closes: stop rather than compute for nobody. The job
// is recovered as stalled by another worker and its results are keyed by job id, so a re-run is harmless.
process.on('disconnect', () => process.exit(0));
// The worker passes its pid: it may have died before these lines ran, and then no disconnect event comes.
const workerPid = Number(process.argv[2]) || process.ppid;
if (!process.connected || process.ppid !== workerPid) process.exit(0);
// A disconnect is only noticed between two units of work; this thread, which does not wait for this one's event
// loop, ends the process once the worker is gone (it is re-parented) even in the middle of a long unit.
const watchdog = new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL'); }, 500);`,
  { eval: true, workerData: workerPid },
);
watchdog.unref();
// Ctrl-C in a terminal signals the whole process group: the worker decides, finishing its jobs and then closing
// this channel, so a job is not failed by the keystroke.
process.on('SIGINT', () => undefined);

register();

// Test-only fault injection (inert unless HESSIAN_FAULT_INJECTION is set): see fault-injection.ts.
const { injectFault } = await import('./fault-injection.ts');
await injectFault('startup');

await import('./compute-child.ts');
