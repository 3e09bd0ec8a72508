/** /v1/arrays: standalone arrays, e.g. the vectors of hvp / ggnvp / inverse_hvp jobs. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads } from './upload-collection.js';
import { acceptRawJson, passThroughValidator, rawBody } from './raw-json.js';
import { readParts } from '../../multipart.js';
import { badRequest } from '../../problem.js';
import { arrayJsonBodySchema, arraySchema } from '../../schemas/arrays.js';
import { commonProblems, problemSchema } from '../../schemas/common.js';
import type { ArrayInfo, PreparedBundle } from '../../upload-tasks.js';
import { storeArray } from '../../uploads.js';

const arrays: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;
  acceptRawJson(app, svc.config.maxUploadBytes);

  app.post(
    '/arrays',
    {
      schema: {
        tags: ['arrays'],
        summary: 'Upload an array (e.g. k×P vectors for hvp)',
        description:
          'multipart/form-data with one `array` part (.npy), or a JSON body `{data: [[...], ...]}`.',
        consumes: ['application/json', 'multipart/form-data'],
        body: arrayJsonBodySchema.nullish(),
        response: {
          200: arraySchema,
          201: arraySchema,
          413: problemSchema,
          415: problemSchema,
          422: problemSchema,
          ...commonProblems,
        },
      },
      validatorCompiler: passThroughValidator,
    },
    async (request, reply) => {
      const maxBytes = svc.config.maxUploadBytes;
      let prepared: PreparedBundle<ArrayInfo>;
      if (request.isMultipart()) {
        const parts = await readParts(request, ['array'], maxBytes);
        prepared = await app.decoder.run({ kind: 'array-parts', parts, maxBytes });
      } else {
        const body = rawBody(request.body);
        if (!body) throw badRequest('invalid_upload', 'send a JSON body {"data": [[...], ...]}');
        prepared = await app.decoder.run({ kind: 'array-json', body, maxBytes });
      }
      const { record, created } = await storeArray(svc, request.principal, prepared);
      void reply.code(created ? 201 : 200).header('location', `/v1/arrays/${record.id}`);
      return record;
    },
  );

  registerCollectionReads(app, { kind: 'arrays', noun: 'array', article: 'an', schema: arraySchema });
};

export default arrays;
