// Entry of the start-up backend probe (see backend-probe.ts): a short-lived child that selects the TF.js backend
// the worker was asked for, reports it over IPC and exits. Plain JavaScript so it can register tsx itself, like
// processor-entry.js.
import { register } from 'tsx/esm/api';

register();

const { initBackend } = await import('../engine/backend.ts');
const choice = process.argv[2] ?? 'auto';
let message;
try {
  const info = await initBackend(choice);
  message = { ok: true, info };
} catch (e) {
  message = { ok: false, code: e?.code ?? 'internal', message: e instanceof Error ? e.message : String(e) };
}
// Exit only once the message is flushed, or the parent sees a bare exit.
process.send(message, () => process.exit(0));
