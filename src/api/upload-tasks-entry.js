// Entry file of the upload worker threads (piscina). A worker thread does not inherit the main thread's in-process
// tsx registration, so this JavaScript shim registers tsx before importing the TypeScript tasks.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { register } from 'tsx/esm/api';

register();

const { default: runUploadTask } = await import('./upload-tasks.ts');

/** Whole, distinct ArrayBuffers of a result's files: moved back to the main thread instead of copied. */
function ownedBuffers(result) {
  const buffers = new Set();
  for (const [, bytes] of result.files ?? []) {
    if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) buffers.add(bytes.buffer);
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
