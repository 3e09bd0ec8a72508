/**
 * The HTTP API as a Fastify plugin: external plugins first, then the app's plugins, then the routes. The server
 * (`server.ts`) and the tests build the same app.
 */
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import auth, { KeyRing } from './plugins/auth.js';
import bullBoard from './plugins/bull-board.js';
import errorHandler, { MAX_PARTS, notFoundHandler } from './plugins/error-handler.js';
import metrics from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import rateLimit from './plugins/rate-limit.js';
import services from './plugins/services.js';
import uploadDecoder from './plugins/upload-decoder.js';
import pages from './pages/pages.js';
import health from './routes/health.js';
import arrays from './routes/v1/arrays.js';
import datasets from './routes/v1/datasets.js';
import jobPreview from './routes/v1/job-preview.js';
import jobs from './routes/v1/jobs.js';
import models from './routes/v1/models.js';
import type { Services } from './services.js';

/** Content-Security-Policy of every API response: nothing may be loaded or framed. */
const API_CSP = {
  defaultSrc: ["'none'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
};

export interface AppOptions {
  services: Services;
  /** Close the services when the app closes (the server does; a test sharing services may not). */
  closeServices?: boolean;
}

export default async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config } = opts.services;
  fastify.setValidatorCompiler(validatorCompiler);
  fastify.setSerializerCompiler(serializerCompiler);
  // Every body is JSON or multipart: text/plain must be a 415, not a string handed to the JSON schemas.
  fastify.removeContentTypeParser('text/plain');

  // The API serves JSON and .npy only, so its pages may load nothing; Swagger UI (/docs) sets its own policy.
  await fastify.register(helmet, { contentSecurityPolicy: { directives: API_CSP }, global: true });
  await fastify.register(multipart, {
    // Text fields are refused by the route with a clear message, so a few may reach it; the byte total across
    // parts is enforced while streaming (readParts).
    limits: {
      fileSize: config.maxUploadBytes,
      files: MAX_PARTS,
      fields: 10,
      parts: MAX_PARTS,
      fieldSize: 1024,
      headerPairs: 100,
    },
  });

  await fastify.register(errorHandler, { maxUploadBytes: config.maxUploadBytes });
  await fastify.register(services, { services: opts.services, closeWithApp: opts.closeServices ?? true });
  await fastify.register(uploadDecoder, { threads: config.uploadThreads });
  // The rate limiter first: its per-route hook then runs before the API-key check, so wrong keys are limited too.
  const keyRing = new KeyRing(config.apiKeys);
  await fastify.register(rateLimit, {
    redis: opts.services.redis,
    keyRing,
    perKey: config.rateLimitPerKey,
    perIp: config.rateLimitPerIp,
    prefix: config.queuePrefix,
  });
  await fastify.register(auth, { keyRing });
  fastify.setNotFoundHandler(
    {
      preHandler: [
        ...(config.rateLimitPerKey > 0 ? [fastify.rateLimit()] : []),
        async (request: FastifyRequest) => fastify.requireKey(request),
      ],
    },
    notFoundHandler,
  );
  await fastify.register(metrics);
  await fastify.register(openapi);

  await fastify.register(health);
  await fastify.register(bullBoard, { queue: opts.services.jobs.queue, keyRing });
  // The results pages (/jobs, /jobs/{id}): static shells with their own CSP, reading /v1 with the caller's key.
  await fastify.register(pages);
  await fastify.register(
    async (v1) => {
      await v1.register(models);
      await v1.register(datasets);
      await v1.register(arrays);
      await v1.register(jobs);
      await v1.register(jobPreview);
    },
    { prefix: '/v1' },
  );
}
