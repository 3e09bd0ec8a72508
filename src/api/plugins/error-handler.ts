/**
 * One error handler for the whole app: maps validation errors, engine errors, Fastify/multipart errors and Redis
 * outages to problem+json, and hides the details of anything unexpected (logged with the request id instead).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isEngineError } from '../../contract/errors.js';
import { isRedisUnavailableError } from '../../queue/redis.js';
import { PROBLEM_CONTENT_TYPE, ProblemError } from '../problem.js';

/** Most parts one multipart upload may have (a model with many shards stays far below). */
export const MAX_PARTS = 1000;
/** Longest path parameter the router accepts (ids are 32 to 64 characters). */
export const MAX_PARAM_LENGTH = 100;

/** Seconds a client should wait before retrying while Redis is down. */
export const REDIS_RETRY_AFTER_SECONDS = 5;

const FASTIFY_CODES: Record<string, { status: number; code: string; detail?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    detail: 'send application/json, or multipart/form-data for uploads',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_PARTS_LIMIT: {
    status: 413,
    code: 'too_many_parts',
    detail: `a multipart upload may have at most ${MAX_PARTS} parts`,
  },
  FST_FILES_LIMIT: {
    status: 413,
    code: 'too_many_parts',
    detail: `a multipart upload may have at most ${MAX_PARTS} files`,
  },
  FST_FIELDS_LIMIT: {
    status: 400,
    code: 'unexpected_part',
    detail: 'text fields are not accepted: send every part as a file (-F name=@path)',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', detail: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'invalid_request',
    detail: 'the body length does not match Content-Length',
  },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_MP_PREMATURE_CLOSE: {
    status: 400,
    code: 'incomplete_upload',
    detail: 'the upload ended before its last part was complete',
  },
  FST_PROTO_VIOLATION: { status: 400, code: 'invalid_request' },
  FST_ERR_BAD_URL: {
    status: 400,
    code: 'invalid_url',
    detail: 'the URL has an invalid percent-encoding (e.g. "%zz"); encode reserved characters as %XX',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'uri_too_long',
    detail: `a path parameter is longer than ${MAX_PARAM_LENGTH} characters; ids are at most 64`,
  },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'invalid_request', detail: 'the request cannot be routed' },
};

/**
 * The `instance` member: the request path (never the query string, which may hold secrets), shortened so a
 * hostile 8 KB URL is not echoed back.
 */
export function instanceOf(url: string): string {
  const path = url.split('?')[0];
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

function toProblemError(err: FastifyError, maxUploadBytes: number): ProblemError | null {
  if (err instanceof ProblemError) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'body';
    const issues = err.validation.map((v) => ({
      path: `${where}${v.instancePath.replace(/\//g, '.').replace(/\.$/, '')}`,
      message: v.message ?? 'invalid',
      code: v.keyword,
    }));
    const detail = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    return new ProblemError(400, 'validation_failed', detail, { errors: issues });
  }
  if (isEngineError(err)) {
    const status = err.status === 499 ? 409 : err.status;
    return new ProblemError(status, err.code, err.message, err.details ? { details: err.details } : {});
  }
  if (isRedisUnavailableError(err)) {
    return new ProblemError(
      503,
      'redis_unavailable',
      'the job store (Redis) is unreachable; retry shortly',
      {},
      { 'retry-after': String(REDIS_RETRY_AFTER_SECONDS) },
    );
  }
  const known = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (known) {
    const detail =
      known.code === 'payload_too_large'
        ? `the upload is too large (limit MAX_UPLOAD_BYTES=${maxUploadBytes} bytes)`
        : (known.detail ?? err.message);
    return new ProblemError(known.status, known.code, detail);
  }
  if (
    err.code === 'FST_ERR_REQUEST_TIMEOUT' ||
    (err as { code?: string }).code === 'ERR_HTTP_REQUEST_TIMEOUT'
  ) {
    return new ProblemError(408, 'request_timeout', 'the request body was not received in time');
  }
  if (err instanceof SyntaxError) {
    const detail = /prototype property/.test(err.message)
      ? 'the JSON body contains a "__proto__" or "constructor.prototype" key, which is refused'
      : err.message;
    return new ProblemError(400, 'invalid_json', detail);
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new ProblemError(err.statusCode, 'invalid_request', err.message);
  }
  return null;
}

export interface ErrorHandlerOptions {
  maxUploadBytes: number;
}

async function errorHandler(app: FastifyInstance, opts: ErrorHandlerOptions): Promise<void> {
  app.setErrorHandler(async (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let problem = toProblemError(err, opts.maxUploadBytes);
    if (!problem) {
      request.log.error({ err }, 'unhandled error');
      problem = new ProblemError(500, 'internal', `an unexpected error occurred (request id ${request.id})`);
    } else if (problem.status >= 500) {
      request.log.warn({ code: problem.code, err: err.message }, 'service unavailable');
    }
    void reply.code(problem.status).headers(problem.headers).type(PROBLEM_CONTENT_TYPE);
    // A body left unread (an upload cut off at the limit) is drained and discarded, as nginx's lingering close does:
    // the client, still sending, then reads this answer instead of a broken pipe, and the connection does not stay
    // open paused. REQUEST_TIMEOUT_MS bounds how long a client may keep sending.
    if (!request.raw.complete) {
      request.raw.unpipe();
      request.raw.resume();
    }
    return JSON.stringify(problem.toProblem(instanceOf(request.url)));
  });
}

/** Answers a request no route matched (registered by the app, after the rate limiter and the key check). */
export async function notFoundHandler(request: FastifyRequest, reply: FastifyReply): Promise<string> {
  const path = instanceOf(request.url);
  const problem = new ProblemError(404, 'route_not_found', `no route ${request.method} ${path}`);
  void reply.code(404).type(PROBLEM_CONTENT_TYPE);
  return JSON.stringify(problem.toProblem(path));
}

/**
 * Errors the router raises before any route or hook runs (bad percent-encoding, an over-long parameter), as
 * problems like every other error. Passed to Fastify as its `frameworkErrors` option.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem =
    toProblemError(err, 0) ?? new ProblemError(400, 'invalid_request', 'the request cannot be routed');
  void reply
    .code(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem.toProblem(instanceOf(request.url))));
}

/** HTTP parser errors Node reports before any request exists, as problems (Fastify's `clientErrorHandler`). */
const CLIENT_ERRORS: Record<string, { status: number; code: string; detail: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    detail: 'the request was not received in time (REQUEST_TIMEOUT_MS)',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    detail: 'the request headers are larger than the 16 KiB accepted',
  },
  HPE_INVALID_METHOD: { status: 400, code: 'invalid_request', detail: 'unknown HTTP method' },
};

/**
 * Answers a request Node's HTTP parser rejected (malformed request line or headers, lying Content-Length, a body cut
 * short, a timeout) with a problem document, then closes the connection, as Node itself would.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = (err.code && CLIENT_ERRORS[err.code]) || {
    status: 400,
    code: 'invalid_request',
    detail: `the request is not valid HTTP/1.1 (${(err.code ?? 'parse error').replace(/^HPE_/, '').toLowerCase()})`,
  };
  const body = JSON.stringify(new ProblemError(known.status, known.code, known.detail).toProblem());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export default fp(errorHandler, { name: 'error-handler' });
