/**
 * Reads a multipart request's file parts, enforcing the byte budget across all parts WHILE streaming (the request
 * is cut off at the first byte over the limit, so it never holds more than the limit), checking part names, and
 * turning the parser's own failures (no boundary, a body cut mid-part) into 400s.
 */
import type { FastifyRequest } from 'fastify';
import { ByteSink, declaredLength } from './body-buffer.js';
import { badRequest, ProblemError, unsupportedMediaType } from './problem.js';
import type { UploadedPart } from './upload-tasks.js';

export type { UploadedPart };

/** Fastify/multipart error codes the error handler already maps to the right problem. */
const MAPPED = /^FST_/;

function tooLarge(maxTotalBytes: number): ProblemError {
  return new ProblemError(
    413,
    'payload_too_large',
    `the upload exceeds MAX_UPLOAD_BYTES=${maxTotalBytes} bytes in total`,
  );
}

/**
 * Reads every part of a multipart request into memory. Unknown part names are rejected (a typo would otherwise
 * be silently ignored), as are non-file fields.
 */
/** An allowed name, or a name matching an allowed `prefix.*` (a non-empty rest of at most 200 characters). */
function fieldAllowed(allowed: readonly string[], field: string): boolean {
  return allowed.some((a) => {
    if (!a.endsWith('.*')) return a === field;
    const prefix = a.slice(0, -1);
    return field.startsWith(prefix) && field.length > prefix.length && field.length <= prefix.length + 200;
  });
}

export async function readParts(
  request: FastifyRequest,
  allowed: readonly string[],
  maxTotalBytes: number,
): Promise<UploadedPart[]> {
  if (!request.isMultipart()) throw unsupportedMediaType('multipart/form-data');
  const parts: UploadedPart[] = [];
  let total = 0;
  // One buffer for every part's bytes, sized from Content-Length (which covers them all, plus the part headers).
  const declared = declaredLength(request.headers['content-length']);
  const sink = new ByteSink(declared === undefined ? undefined : Math.min(declared, maxTotalBytes));
  try {
    for await (const part of request.parts()) {
      const field = typeof part.fieldname === 'string' ? part.fieldname : '';
      if (!fieldAllowed(allowed, field)) {
        throw badRequest(
          'unexpected_part',
          `unexpected multipart part ${JSON.stringify(field.slice(0, 100))} (each part needs Content-Disposition: form-data; name="..."); expected ${allowed.map((a) => `"${a}"`).join(', ')}`,
        );
      }
      if (part.type !== 'file') {
        throw badRequest('unexpected_part', `part "${field}" must be a file (use -F '${field}=@path')`);
      }
      const start = sink.mark();
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        total += chunk.byteLength;
        if (total > maxTotalBytes) throw tooLarge(maxTotalBytes);
        sink.push(chunk);
      }
      if (part.file.truncated) throw tooLarge(maxTotalBytes);
      parts.push({ field, filename: (part.filename || field).slice(0, 255), bytes: sink.region(start) });
    }
  } catch (err) {
    const e = err as Error & { code?: string; statusCode?: number };
    if (e instanceof ProblemError || (e.code && MAPPED.test(e.code))) throw e;
    // busboy's own errors: "Multipart: Boundary not found", "Unexpected end of form", malformed headers...
    if (/unexpected end/i.test(e.message)) {
      throw badRequest('incomplete_upload', 'the upload ended before its last part was complete');
    }
    throw badRequest('invalid_multipart', `the multipart body cannot be read: ${e.message}`);
  }
  return parts;
}
