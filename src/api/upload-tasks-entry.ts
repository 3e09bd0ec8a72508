// Entry of the upload worker threads (piscina), started by plugins/upload-decoder.ts on the API's own flavour
// (src/runtime/entry.ts): runs a task and moves the result's buffers back instead of copying them.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import runUploadTask, { type TaskFailure, type TaskResult, type UploadTask } from './upload-tasks.js';

/**
 * The distinct ArrayBuffers behind a result's files, moved back to the main thread instead of copied (a cloned view
 * would copy its whole buffer, once per view). Buffers no larger than Node's Buffer pool may be that pool, which must
 * never be detached: those small ones are copied.
 */
function ownedBuffers(result: TaskResult | TaskFailure): ArrayBufferLike[] {
  const buffers = new Set<ArrayBufferLike>();
  const files = 'files' in result ? result.files : [];
  for (const [, pieces] of files) {
    for (const bytes of pieces) if (bytes.buffer.byteLength > Buffer.poolSize) buffers.add(bytes.buffer);
  }
  return [...buffers];
}

export default async function run(task: UploadTask): Promise<unknown> {
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
