// Entry file of the upload worker threads (piscina). A worker thread does not inherit the main thread's in-process
// tsx registration, so this JavaScript shim registers tsx before importing the TypeScript tasks.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { register } from 'tsx/esm/api';

register();

const { default: runUploadTask } = await import('./upload-tasks.ts');

/**
 * The distinct ArrayBuffers behind a result's files, moved back to the main thread instead of copied (a cloned view
 * would copy its whole buffer, once per view). Buffers no larger than Node's Buffer pool may be that pool, which must
 * never be detached: those small ones are copied.
 */
function ownedBuffers(result) {
  const buffers = new Set();
  for (const [, pieces] of result.files ?? []) {
    for (const bytes of pieces) if (bytes.buffer.byteLength > Buffer.poolSize) buffers.add(bytes.buffer);
  }
  return [...buffers];
}

export default async function run(task) {
  const result = await runUploadTask(task);
  const buffers = ownedBuffers(result);
  if (buffers.length === 0) return result;
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return result;
    },
  });
}
