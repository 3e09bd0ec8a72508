/** /v1/arrays: standalone arrays, e.g. the vectors of hvp / ggnvp / inverse_hvp jobs. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { decodeArrayFile } from '../../../engine/data/decode.js';
import { parseJsonArray } from '../../../engine/data/json-array.js';
import type { NdArray } from '../../../engine/ndarray.js';
import { registerCollectionReads } from './upload-collection.js';
import { readParts } from '../../multipart.js';
import { badRequest } from '../../problem.js';
import { arrayJsonBodySchema, arraySchema } from '../../schemas/arrays.js';
import { commonProblems, problemSchema } from '../../schemas/common.js';
import { storeArray } from '../../uploads.js';

const arrays: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;

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
    },
    async (request, reply) => {
      let array: NdArray;
      if (request.isMultipart()) {
        const parts = await readParts(request, ['array'], svc.config.maxUploadBytes);
        if (parts.length !== 1) throw badRequest('invalid_upload', 'send exactly one "array" part');
        array = decodeArrayFile(parts[0].bytes, parts[0].filename);
      } else {
        if (!request.body) throw badRequest('invalid_upload', 'send a JSON body {"data": [[...], ...]}');
        array = parseJsonArray(request.body.data, 'data', { dtype: 'float32' });
      }
      const { record, created } = await storeArray(svc, array);
      void reply.code(created ? 201 : 200).header('location', `/v1/arrays/${record.id}`);
      return record;
    },
  );

  registerCollectionReads(app, { kind: 'arrays', noun: 'array', article: 'an', schema: arraySchema });
};

export default arrays;
