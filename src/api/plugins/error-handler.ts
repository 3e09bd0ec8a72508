/**
 * One error handler for the whole app: maps validation errors, engine errors, Fastify/multipart errors and Redis
 * outages to problem+json, and hides the details of anything unexpected (logged with the request id instead).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isEngineError } from '../../engine/errors.js';
import { isRedisUnavailableError } from '../../queue/redis.js';
import { PROBLEM_CONTENT_TYPE, ProblemError } from '../problem.js';

/** Seconds a client should wait before retrying while Redis is down. */
export const REDIS_RETRY_AFTER_SECONDS = 5;

const FASTIFY_CODES: Record<string, { status: number; code: string; detail?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_PARTS_LIMIT: { status: 413, code: 'payload_too_large', detail: 'too many multipart parts' },
  FST_FILES_LIMIT: { status: 413, code: 'payload_too_large', detail: 'too many files' },
  FST_FIELDS_LIMIT: { status: 413, code: 'payload_too_large', detail: 'too many form fields' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', detail: 'the JSON body is empty' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_MP_PREMATURE_CLOSE: { status: 400, code: 'incomplete_upload' },
  FST_PROTO_VIOLATION: { status: 400, code: 'invalid_request' },
};

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
      known.status === 413
        ? `${known.detail ?? 'the upload is too large'} (limit MAX_UPLOAD_BYTES=${maxUploadBytes} bytes)`
        : (known.detail ?? err.message);
    return new ProblemError(known.status, known.code, detail);
  }
  if (err instanceof SyntaxError) return new ProblemError(400, 'invalid_json', err.message);
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
    return JSON.stringify(problem.toProblem(request.url));
  });

  app.setNotFoundHandler(async (request, reply) => {
    const problem = new ProblemError(
      404,
      'route_not_found',
      `no route ${request.method} ${request.url.split('?')[0]}`,
    );
    void reply.code(404).type(PROBLEM_CONTENT_TYPE);
    return JSON.stringify(problem.toProblem(request.url));
  });
}

export default fp(errorHandler, { name: 'error-handler' });
