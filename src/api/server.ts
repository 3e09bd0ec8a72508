/** Builds the Fastify server around the app: logging with request ids, body limits, graceful close. */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Config } from '../config/env.js';
import app from './app.js';
import { clientErrorHandler, frameworkErrorHandler, MAX_PARAM_LENGTH } from './plugins/error-handler.js';
import { ProblemError } from './problem.js';
import { createServices, type Services } from './services.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Room for multipart boundaries and part headers on top of MAX_UPLOAD_BYTES of file content. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

/** Query parameters whose values are never logged (a client may put its API key in the query string). */
const SECRET_PARAM = /key|token|secret|pass|auth|sig/i;

/** The URL as logged: secret-looking query values replaced, and cut to a sane length. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).slice(0, 512);
  if (q < 0) return path;
  const query = url
    .slice(q + 1, q + 1 + 2048)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && SECRET_PARAM.test(name) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${path}?${query}`;
}

function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

export interface ServerOptions {
  /** Use these services instead of creating them from the config (tests). */
  services?: Services;
  /** Override pino options (tests pass `false`). */
  logger?: boolean | object;
}

export async function buildServer(
  config: Readonly<Config>,
  opts: ServerOptions = {},
): Promise<{ server: FastifyInstance; services: Services }> {
  const services = opts.services ?? (await createServices(config));
  const server = Fastify({
    logger:
      opts.logger === false
        ? false
        : {
            level: config.logLevel,
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
            serializers: { req: serializeRequest },
            ...(typeof opts.logger === 'object' ? opts.logger : {}),
          },
    bodyLimit: config.maxUploadBytes,
    // A request that trickles in is cut off (408) instead of holding a connection and its buffers forever. This
    // bounds receiving the request only; computing the answer afterwards is not cut short.
    requestTimeout: config.requestTimeoutMs,
    http: {
      // Given to Node's server itself: set afterwards (as Fastify does), the timeout is never enforced.
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      // Checked every second rather than Node's default 30 s, so REQUEST_TIMEOUT_MS is kept closely.
      connectionsCheckingInterval: 1000,
      // Node would answer a request without Host with an empty 400; the hook below answers with a problem.
      requireHostHeader: false,
    },
    clientErrorHandler,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Router errors (bad percent-encoding, over-long ids) become problems like every other error.
    frameworkErrors: frameworkErrorHandler,
    // Honour a caller's request id (for tracing across services), else make one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
  });
  server.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  server.addHook('onRequest', async (request) => {
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      throw new ProblemError(400, 'invalid_request', 'an HTTP/1.1 request needs a Host header');
    }
    // A declared length over what any upload may be is refused before a byte of the body is read.
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > config.maxUploadBytes + MULTIPART_OVERHEAD_BYTES) {
      throw new ProblemError(
        413,
        'payload_too_large',
        `the body is ${declared} bytes; uploads are limited to MAX_UPLOAD_BYTES=${config.maxUploadBytes} bytes`,
      );
    }
  });
  await server.register(app, { services, closeServices: opts.services === undefined });
  return { server, services };
}
