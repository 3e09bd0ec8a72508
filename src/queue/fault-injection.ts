/**
 * TEST-ONLY fault injection for compute children, so the fault tests (test/integration/faults.test.ts) can make a
 * child die or hang at a chosen stage of its life deterministically. Inert in production: it acts only when
 * `HESSIAN_FAULT_INJECTION` is set, which no deployment file sets and no setting documents; only compute
 * children read it (the worker process ignores it).
 *
 * `HESSIAN_FAULT_INJECTION=<fault>[,<fault>...]`, each `<stage>:<action>[:seed=<n>][:once=<file>]`:
 * - stage `startup`: in a new child, before it loads TF.js (so before it is ready);
 *   `compute`: at a job's first progress report (mid-computation);
 *   `write`: after a job's first result file is written, before the result is reported.
 * - action `exit` (exit code 70), `kill` (SIGKILL itself: a real signal, as the OOM killer sends), `hang` (block
 *   the event loop for good: an uninterruptible unit of work), `delay=<ms>` (wait, then go on; not at `compute`).
 * - `seed=<n>`: only for jobs whose request has this seed (not at `startup`, where there is no job yet).
 * - `once=<file>`: fires once across all processes: the process that creates `<file>` first takes it.
 */
import { writeFileSync } from 'node:fs';

export type FaultStage = 'startup' | 'compute' | 'write';

interface Fault {
  stage: FaultStage;
  action: 'exit' | 'kill' | 'hang' | 'delay';
  ms: number;
  seed?: number;
  once?: string;
}

/** @throws Error on a malformed specification, so a typo in a test fails loudly instead of injecting nothing. */
export function parseFaults(spec: string | undefined): Fault[] {
  if (!spec) return [];
  return spec.split(',').map((item) => {
    const [stage, actionSpec, ...options] = item.trim().split(':');
    const [action, ms] = (actionSpec ?? '').split('=');
    const fault: Fault = {
      stage: stage as FaultStage,
      action: action as Fault['action'],
      ms: Number(ms ?? 0),
    };
    const bad = (why: string) => new Error(`HESSIAN_FAULT_INJECTION: ${why} in "${item}"`);
    if (!['startup', 'compute', 'write'].includes(fault.stage)) throw bad(`unknown stage "${stage}"`);
    if (!['exit', 'kill', 'hang', 'delay'].includes(fault.action)) throw bad(`unknown action "${action}"`);
    if (fault.action === 'delay' && (fault.stage === 'compute' || !(fault.ms >= 0))) throw bad('bad delay');
    for (const option of options) {
      const [key, value] = option.split('=');
      if (key === 'seed' && fault.stage !== 'startup') fault.seed = Number(value);
      else if (key === 'once' && value) fault.once = value;
      else throw bad(`unknown option "${option}"`);
    }
    return fault;
  });
}

const faults = parseFaults(process.env.HESSIAN_FAULT_INJECTION);

/** True when this process takes a `once` fault (creating its marker file), or the fault is not `once`. */
function claim(fault: Fault): boolean {
  if (!fault.once) return true;
  try {
    writeFileSync(fault.once, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Carries out the first fault configured for `stage` (and this job's seed), if any: exits, kills this process,
 * hangs, or returns a promise that resolves after the delay. Does nothing (returns undefined) otherwise.
 */
export function injectFault(stage: FaultStage, seed?: number): Promise<void> | undefined {
  const fault = faults.find(
    (f) => f.stage === stage && (f.seed === undefined || f.seed === seed) && claim(f),
  );
  if (!fault) return undefined;
  process.stderr.write(
    `hessian fault injection (test only): ${stage}:${fault.action} in pid ${process.pid}\n`,
  );
  switch (fault.action) {
    case 'exit':
      process.exit(70);
    // falls through (process.exit does not return)
    case 'kill':
      process.kill(process.pid, 'SIGKILL');
      break;
    case 'hang':
      for (;;) {
        // Busy forever: nothing but a signal ends this process now.
      }
    case 'delay':
      return new Promise((resolve) => setTimeout(resolve, fault.ms));
  }
  return undefined;
}
