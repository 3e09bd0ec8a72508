/** Builds the Fastify server around the app: logging with request ids, body limits, graceful close. */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config/env.js';
import app from './app.js';
import { createServices, type Services } from './services.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

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
    logger: opts.logger ?? {
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
    },
    bodyLimit: config.maxUploadBytes,
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
  await server.register(app, { services, closeServices: opts.services === undefined });
  return { server, services };
}
