/**
 * The HTTP API as a Fastify plugin: external plugins first, then the app's plugins, then the routes. The server
 * (`server.ts`) and the tests build the same app.
 */
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import auth from './plugins/auth.js';
import bullBoard from './plugins/bull-board.js';
import errorHandler from './plugins/error-handler.js';
import metrics from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import services from './plugins/services.js';
import health from './routes/health.js';
import arrays from './routes/v1/arrays.js';
import datasets from './routes/v1/datasets.js';
import jobs from './routes/v1/jobs.js';
import models from './routes/v1/models.js';
import type { Services } from './services.js';

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

  // Swagger UI needs inline scripts/styles; the API itself serves JSON and .npy only.
  await fastify.register(helmet, { contentSecurityPolicy: false, global: true });
  await fastify.register(multipart, {
    limits: { fileSize: config.maxUploadBytes, files: 1000, fields: 0, parts: 1000, fieldSize: 1024 },
  });

  await fastify.register(errorHandler, { maxUploadBytes: config.maxUploadBytes });
  await fastify.register(services, { services: opts.services, closeWithApp: opts.closeServices ?? true });
  await fastify.register(auth, { apiKeys: config.apiKeys });
  await fastify.register(metrics);
  await fastify.register(openapi);

  await fastify.register(health);
  await fastify.register(bullBoard, { queue: opts.services.jobs.queue, apiKeys: config.apiKeys });
  await fastify.register(
    async (v1) => {
      await v1.register(models);
      await v1.register(datasets);
      await v1.register(arrays);
      await v1.register(jobs);
    },
    { prefix: '/v1' },
  );
}
