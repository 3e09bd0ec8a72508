/**
 * Upload routes taking multipart parts or a JSON body (datasets, arrays). A JSON body of (possibly very large) nested
 * arrays is taken as raw bytes instead of letting Fastify's JSON parser build an object tree on the event loop: the
 * bytes go to a decoding thread that scans them straight into typed arrays (`contract/data/json-scan.ts`). The zod
 * body schema stays on the route for the OpenAPI document; validation is the scanner's job there.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { ByteSink, declaredLength } from '../../body-buffer.js';
import { readParts } from '../../multipart.js';
import { badRequest, ProblemError } from '../../problem.js';
import type { z } from 'zod';
import type { BundleKind } from '../../../storage/artifact-store.js';
import { uploadResponses } from '../../schemas/common.js';
import type { ArrayInfo, DatasetInfo, ModelInfo, PreparedBundle, TaskResult } from '../../upload-tasks.js';
import { replyStored } from './upload-collection.js';

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

/**
 * Registers `POST /<kind>` taking multipart parts or a raw JSON body: the route, its documented body and responses,
 * decoding in a thread, storing for the caller, 201/200.
 */
export function registerDualUpload<
  Info extends ModelInfo | DatasetInfo | ArrayInfo,
  R extends { id: string },
>(
  app: FastifyInstance,
  options: {
    kind: BundleKind;
    summary: string;
    description: string;
    jsonBody: z.ZodTypeAny;
    record: z.ZodTypeAny;
    upload: DualUpload;
    store: (prepared: PreparedBundle<Info>, owner: string) => Promise<{ record: R; created: boolean }>;
  },
): void {
  acceptRawJson(app, app.svc.config.maxUploadBytes);
  app.post(
    `/${options.kind}`,
    {
      schema: {
        tags: [options.kind],
        summary: options.summary,
        description: options.description,
        consumes: ['application/json', 'multipart/form-data'],
        body: options.jsonBody.nullish(),
        response: uploadResponses(options.record),
      },
      validatorCompiler: passThroughValidator,
    },
    async (request, reply) => {
      const prepared = await decodeDualUpload<PreparedBundle<Info>>(app, request, options.upload);
      return replyStored(reply, options.kind, await options.store(prepared, request.principal));
    },
  );
}
