// Entry of a compute child, forked by the worker (child-pool.ts) on the worker's own flavour (src/runtime/entry.ts),
// then runs the main loop (compute-child.ts → processor.ts). Its only static import is node:worker_threads: the
// exit paths below must be in place before the slow part (loading TF.js), so the rest is imported afterwards.
import { Worker } from 'node:worker_threads';

// If the worker process dies (SIGKILL, OOM), the IPC channel closes: stop rather than compute for nobody. The job
// is recovered as stalled by another worker and its results are keyed by job id, so a re-run is harmless.
process.on('disconnect', () => process.exit(0));
// The worker passes its pid: it may have died before these lines ran, and then no disconnect event comes.
const workerPid = Number(process.argv[2]) || process.ppid;
if (!process.connected || process.ppid !== workerPid) process.exit(0);
// A disconnect is only noticed between two units of work; this thread, which does not wait for this one's event
// loop, ends the process once the worker is gone (it is re-parented) even in the middle of a long unit. Plain
// JavaScript, so no Node options (not this process's tsx loader when it runs from src/).
const watchdog = new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL'); }, 500);`,
  { eval: true, workerData: workerPid, execArgv: [] },
);
watchdog.unref();
// Ctrl-C in a terminal signals the whole process group: the worker decides, finishing its jobs and then closing
// this channel, so a job is not failed by the keystroke.
process.on('SIGINT', () => undefined);

// Test-only fault injection (inert unless HESSIAN_FAULT_INJECTION is set): see fault-injection.ts.
const { injectFault } = await import('./fault-injection.js');
await injectFault('startup');

await import('./compute-child.js');
