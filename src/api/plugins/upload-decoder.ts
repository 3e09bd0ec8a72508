/**
 * A small pool of worker threads (piscina) for the CPU-heavy part of uploads and submissions (`upload-tasks.ts`),
 * so a large or hostile upload never stalls the event loop that answers every other request. The queue in front
 * of the threads is bounded: when it is full the API answers 503 + Retry-After instead of piling up buffers.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Piscina } from 'piscina';
import { EngineError, type EngineErrorCode } from '../../contract/errors.js';
import { siblingEntry } from '../../runtime/entry.js';
import { isOwnedBuffer } from '../body-buffer.js';
import { badRequest, ProblemError } from '../problem.js';
import type { TaskFailure, TaskResult, UploadedPart, UploadTask } from '../upload-tasks.js';

const ENTRY = siblingEntry(import.meta.url, '../upload-tasks-entry');

/** Uploads waiting for a thread beyond this many get 503 (each holds its bytes in memory meanwhile). */
const MAX_QUEUED = 16;
/** Seconds a client should wait when the decoders are saturated. */
const BUSY_RETRY_AFTER_SECONDS = 2;

export interface UploadDecoderOptions {
  threads: number;
  /** A task running longer than this is stopped (its thread is replaced) and the upload refused. */
  taskTimeoutMs?: number;
}

export interface UploadDecoder {
  run<T extends TaskResult>(task: UploadTask): Promise<T>;
}

declare module 'fastify' {
  interface FastifyInstance {
    decoder: UploadDecoder;
  }
}

/**
 * The buffers behind the parts or body, moved to the thread rather than copied when this request owns them
 * (allocated by `body-buffer.ts` for it alone); anything else is copied.
 */
function transferables(task: UploadTask): ArrayBuffer[] {
  const views: Uint8Array[] =
    'parts' in task ? task.parts.map((p: UploadedPart) => p.bytes) : 'body' in task ? [task.body] : [];
  const out = new Set<ArrayBuffer>();
  for (const v of views) {
    if (v.buffer instanceof ArrayBuffer && isOwnedBuffer(v.buffer)) out.add(v.buffer);
  }
  return [...out];
}

function isFailure(r: TaskResult | TaskFailure): r is TaskFailure {
  return (r as TaskFailure).failed === true;
}

async function uploadDecoder(app: FastifyInstance, opts: UploadDecoderOptions): Promise<void> {
  const pool = new Piscina({
    filename: ENTRY.file,
    // A worker thread does not inherit tsx's hooks from this thread: from src/ it loads tsx itself.
    execArgv: ENTRY.execArgv,
    minThreads: 1,
    maxThreads: opts.threads,
    maxQueue: MAX_QUEUED,
    idleTimeout: 60_000,
  });
  const timeoutMs = opts.taskTimeoutMs ?? 120_000;

  const decoder: UploadDecoder = {
    async run<T extends TaskResult>(task: UploadTask): Promise<T> {
      let result: TaskResult | TaskFailure;
      try {
        result = await pool.run(task, {
          transferList: transferables(task),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const e = err as Error;
        if (/queue is at limit/i.test(e.message)) {
          throw new ProblemError(
            503,
            'busy',
            'the API is decoding as many uploads as it can at once; retry shortly',
            {},
            { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) },
          );
        }
        if (e.name === 'AbortError') {
          throw new ProblemError(
            422,
            'upload_too_complex',
            `decoding this upload took longer than ${timeoutMs} ms and was stopped`,
          );
        }
        throw err;
      }
      if (isFailure(result)) {
        if (result.code === 'invalid_upload') throw badRequest('invalid_upload', result.message);
        if (result.code === 'upload_missing') throw new ProblemError(404, 'upload_missing', result.message);
        if (result.code === 'internal') throw new Error(result.message);
        throw new EngineError(result.code as EngineErrorCode, result.message, result.details);
      }
      return result as T;
    },
  };
  app.decorate('decoder', decoder);
  app.addHook('onClose', async () => {
    await pool.destroy();
  });
}

export default fp(uploadDecoder, { name: 'upload-decoder' });
