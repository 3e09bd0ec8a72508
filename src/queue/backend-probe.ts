/**
 * Start-up check of the TF.js backend a worker will compute on. It runs in a short-lived child, not in the worker
 * process, because the worker process never computes (its jobs run in supervised compute children) and a native GPU binding
 * loaded there would hold a CUDA context and GPU memory for nothing.
 */
import { fork } from 'node:child_process';
import type { BackendChoice, BackendInfo } from '../engine/backend.js';
import { EngineError } from '../contract/errors.js';
import { siblingEntry } from '../runtime/entry.js';

const ENTRY = siblingEntry(import.meta.url, './backend-probe-entry');

/** What the probe child reports over IPC (backend-probe-entry.ts). */
export type ProbeMessage = { ok: true; info: BackendInfo } | { ok: false; code: string; message: string };

/**
 * Selects `choice` in a child process exactly as the job processor will, and returns what it got.
 * @throws EngineError('backend_unavailable') when an explicit choice (e.g. `tensorflow` without a native binding)
 * cannot load, with the engine's one-line explanation; also when the probe dies without answering.
 */
export function probeBackend(choice: BackendChoice): Promise<BackendInfo> {
  return new Promise((resolve, reject) => {
    // Inherit stderr so libtensorflow's own start-up lines (CUDA libraries, devices) reach the worker's log.
    const child = fork(ENTRY.file, [choice], {
      execArgv: ENTRY.execArgv,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let answer: ProbeMessage | undefined;
    child.once('message', (m) => (answer = m as ProbeMessage));
    child.once('error', (err) => reject(err));
    child.once('exit', (code, signal) => {
      if (answer?.ok) resolve(answer.info);
      // Whatever made the probe fail (a missing binding or a crash while initialising it), this backend is unusable.
      else if (answer) reject(new EngineError('backend_unavailable', answer.message));
      else {
        reject(
          new EngineError(
            'backend_unavailable',
            `the backend probe for HESSIAN_BACKEND=${choice} exited without an answer (${signal ?? `code ${code}`})`,
          ),
        );
      }
    });
  });
}
