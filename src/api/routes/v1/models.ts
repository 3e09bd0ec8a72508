/** /v1/models: upload (multipart), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { readParts } from '../../multipart.js';
import { notFound } from '../../problem.js';
import {
  commonProblems,
  idParamsSchema,
  pageOf,
  paginationQuerySchema,
  problemSchema,
} from '../../schemas/common.js';
import { modelSchema, type ModelRecord } from '../../schemas/models.js';
import { storeModel } from '../../uploads.js';

const models: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;

  app.post(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Upload a TF.js Layers model',
        description:
          'multipart/form-data: one `model` part holding model.json and one `weights` part per shard, named as in ' +
          "the manifest's `paths`. The model is parsed and checked now. Identical bytes give the same id (200).",
        consumes: ['multipart/form-data'],
        response: {
          200: modelSchema,
          201: modelSchema,
          413: problemSchema,
          415: problemSchema,
          422: problemSchema,
          ...commonProblems,
        },
      },
    },
    async (request, reply) => {
      const parts = await readParts(request, ['model', 'weights'], svc.config.maxUploadBytes);
      const { record, created } = await storeModel(svc, parts);
      void reply.code(created ? 201 : 200).header('location', `/v1/models/${record.id}`);
      return record;
    },
  );

  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List models, newest first',
        querystring: paginationQuerySchema,
        response: { 200: pageOf(modelSchema), ...commonProblems },
      },
    },
    async (request) => svc.meta.list<ModelRecord>('models', request.query),
  );

  app.get(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'Get a model',
        params: idParamsSchema,
        response: { 200: modelSchema, 404: problemSchema, ...commonProblems },
      },
    },
    async (request) => {
      const record = await svc.meta.get<ModelRecord>('models', request.params.id);
      if (!record) throw notFound('model', request.params.id);
      return record;
    },
  );

  app.delete(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'Delete a model (jobs already queued with it will fail)',
        params: idParamsSchema,
        response: { 204: z.null().describe('Deleted.'), 404: problemSchema, ...commonProblems },
      },
    },
    async (request, reply) => {
      const record = await svc.meta.get<ModelRecord>('models', request.params.id);
      if (!record) throw notFound('model', request.params.id);
      await svc.meta.delete('models', record);
      await svc.store.removeBundle('models', record.id);
      return reply.code(204).send(null);
    },
  );
};

export default models;
