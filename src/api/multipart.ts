/** Buffers a multipart request's file parts, checking part names and the total size. */
import type { FastifyRequest } from 'fastify';
import { badRequest, ProblemError, unsupportedMediaType } from './problem.js';

export interface UploadedPart {
  field: string;
  /** The client's file name: compared with manifest paths and used for format detection, never as a path. */
  filename: string;
  bytes: Uint8Array;
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
  for await (const part of request.parts()) {
    if (!allowed.includes(part.fieldname)) {
      throw badRequest(
        'unexpected_part',
        `unexpected multipart part ${JSON.stringify(part.fieldname)}; expected ${allowed.map((a) => `"${a}"`).join(', ')}`,
      );
    }
    if (part.type !== 'file') {
      throw badRequest(
        'unexpected_part',
        `part "${part.fieldname}" must be a file (use -F '${part.fieldname}=@path')`,
      );
    }
    const bytes = new Uint8Array(await part.toBuffer());
    total += bytes.byteLength;
    if (total > maxTotalBytes) {
      throw new ProblemError(
        413,
        'payload_too_large',
        `the upload exceeds MAX_UPLOAD_BYTES=${maxTotalBytes} bytes in total`,
      );
    }
    parts.push({ field: part.fieldname, filename: part.filename || part.fieldname, bytes });
  }
  return parts;
}
