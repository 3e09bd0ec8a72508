/**
 * Upload routes that accept a JSON body of (possibly very large) nested arrays take it as raw bytes instead of
 * letting Fastify's JSON parser build an object tree on the event loop: the bytes go to a decoding thread that
 * scans them straight into typed arrays (`engine/data/json-scan.ts`). The zod body schema stays on the route for
 * the OpenAPI document; validation is the scanner's job there.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { ByteSink, declaredLength } from '../../body-buffer.js';
import { readParts } from '../../multipart.js';
import { badRequest, ProblemError } from '../../problem.js';
import type { TaskResult } from '../../upload-tasks.js';

/** Registers, in the calling plugin's scope only, a JSON parser that hands the route the body's bytes. */
export function acceptRawJson(app: FastifyInstance, bodyLimit: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: Readable) => {
    const declared = declaredLength(request.headers['content-length']);
    if (declared !== undefined && declared > bodyLimit) throw tooLarge(bodyLimit);
    // Read straight into one buffer of the declared size: the bytes are held once, and moved to the thread.
    const sink = new ByteSink(declared);
    const start = sink.mark();
    for await (const chunk of payload as AsyncIterable<Buffer>) {
      if (sink.size + chunk.byteLength > bodyLimit) throw tooLarge(bodyLimit);
      sink.push(chunk);
    }
    if (declared !== undefined && sink.size !== declared) {
      throw new ProblemError(400, 'invalid_request', 'the body length does not match Content-Length');
    }
    return sink.region(start);
  });
}

function tooLarge(limit: number): ProblemError {
  return new ProblemError(413, 'payload_too_large', `the body exceeds MAX_UPLOAD_BYTES=${limit} bytes`);
}

/** A route's validator for raw JSON bodies: passes the bytes through (documentation-only body schema). */
export const passThroughValidator: FastifySchemaCompiler<unknown> = () => (data) => ({ value: data });

/** The raw body of a request made with {@link acceptRawJson}, or undefined for an empty/other body. */
export function rawBody(body: unknown): Uint8Array | undefined {
  return body instanceof Uint8Array && body.byteLength > 0 ? body : undefined;
}

/** What an upload route that accepts multipart parts or a JSON body hands to the decoding thread. */
export interface DualUpload {
  /** The multipart part names the route accepts. */
  parts: readonly string[];
  multipartTask: 'dataset-parts' | 'array-parts';
  jsonTask: 'dataset-json' | 'array-json';
  /** The JSON body's shape, for the error when it is missing. */
  jsonShape: string;
}

/** Reads a multipart or raw-JSON upload and decodes and checks it in a decoding thread. */
export async function decodeDualUpload<T extends TaskResult>(
  app: FastifyInstance,
  request: FastifyRequest,
  spec: DualUpload,
): Promise<T> {
  const maxBytes = app.svc.config.maxUploadBytes;
  if (request.isMultipart()) {
    const parts = await readParts(request, spec.parts, maxBytes);
    return app.decoder.run<T>({ kind: spec.multipartTask, parts, maxBytes });
  }
  const body = rawBody(request.body);
  if (!body) throw badRequest('invalid_upload', `send a JSON body ${spec.jsonShape}`);
  return app.decoder.run<T>({ kind: spec.jsonTask, body, maxBytes });
}
