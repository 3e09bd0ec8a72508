/**
 * Reads a multipart request's file parts, enforcing the byte budget across all parts WHILE streaming (the request
 * is cut off at the first byte over the limit, so it never holds more than the limit), checking part names, and
 * turning the parser's own failures (no boundary, a body cut mid-part) into 400s.
 */
import type { FastifyRequest } from 'fastify';
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
export async function readParts(
  request: FastifyRequest,
  allowed: readonly string[],
  maxTotalBytes: number,
): Promise<UploadedPart[]> {
  if (!request.isMultipart()) throw unsupportedMediaType('multipart/form-data');
  const parts: UploadedPart[] = [];
  let total = 0;
  try {
    for await (const part of request.parts()) {
      if (!allowed.includes(part.fieldname)) {
        throw badRequest(
          'unexpected_part',
          `unexpected multipart part ${JSON.stringify(part.fieldname.slice(0, 100))}; expected ${allowed.map((a) => `"${a}"`).join(', ')}`,
        );
      }
      if (part.type !== 'file') {
        throw badRequest(
          'unexpected_part',
          `part "${part.fieldname}" must be a file (use -F '${part.fieldname}=@path')`,
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        size += chunk.byteLength;
        total += chunk.byteLength;
        if (total > maxTotalBytes) throw tooLarge(maxTotalBytes);
        chunks.push(chunk);
      }
      if (part.file.truncated) throw tooLarge(maxTotalBytes);
      // One fresh, exactly-sized buffer per part: it can be moved (not copied) to a decoding thread.
      const bytes = new Uint8Array(new ArrayBuffer(size));
      let offset = 0;
      for (const c of chunks) {
        bytes.set(c, offset);
        offset += c.byteLength;
      }
      parts.push({ field: part.fieldname, filename: (part.filename || part.fieldname).slice(0, 255), bytes });
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
