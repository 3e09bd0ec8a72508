/**
 * Upload routes that accept a JSON body of (possibly very large) nested arrays take it as raw bytes instead of
 * letting Fastify's JSON parser build an object tree on the event loop: the bytes go to a decoding thread that
 * scans them straight into typed arrays (`engine/data/json-scan.ts`). The zod body schema stays on the route for
 * the OpenAPI document; validation is the scanner's job there.
 */
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';

/** Registers, in the calling plugin's scope only, a JSON parser that hands the route the body's bytes. */
export function acceptRawJson(app: FastifyInstance, bodyLimit: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    const bytes = body as Buffer;
    // An exactly-sized copy: it can be moved (not copied again) to the decoding thread.
    const owned = new Uint8Array(new ArrayBuffer(bytes.byteLength));
    owned.set(bytes);
    done(null, owned);
  });
}

/** A route's validator for raw JSON bodies: passes the bytes through (documentation-only body schema). */
export const passThroughValidator: FastifySchemaCompiler<unknown> = () => (data) => ({ value: data });

/** The raw body of a request made with {@link acceptRawJson}, or undefined for an empty/other body. */
export function rawBody(body: unknown): Uint8Array | undefined {
  return body instanceof Uint8Array && body.byteLength > 0 ? body : undefined;
}
