// Entry of the start-up backend probe (see backend-probe.ts): a short-lived child that selects the TF.js backend
// the worker was asked for, reports it over IPC and exits.
import { initBackend, type BackendChoice } from '../engine/backend.js';
import type { ProbeMessage } from './backend-probe.js';

const choice = (process.argv[2] ?? 'auto') as BackendChoice;
let message: ProbeMessage;
try {
  message = { ok: true, info: await initBackend(choice) };
} catch (e) {
  message = {
    ok: false,
    code: (e as { code?: string } | null)?.code ?? 'internal',
    message: e instanceof Error ? e.message : String(e),
  };
}
// Exit only once the message is flushed, or the parent sees a bare exit.
process.send!(message, undefined, {}, () => process.exit(0));
