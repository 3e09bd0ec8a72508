/** /v1/arrays: standalone arrays, e.g. the vectors of hvp / ggnvp / inverse_hvp jobs. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads, replyStored } from './upload-collection.js';
import { acceptRawJson, decodeDualUpload, passThroughValidator } from './raw-json.js';
import { arrayJsonBodySchema, arraySchema } from '../../schemas/arrays.js';
import { uploadResponses } from '../../schemas/common.js';
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
        response: uploadResponses(arraySchema),
      },
      validatorCompiler: passThroughValidator,
    },
    async (request, reply) => {
      const prepared = await decodeDualUpload<PreparedBundle<ArrayInfo>>(app, request, {
        parts: ['array'],
        multipartTask: 'array-parts',
        jsonTask: 'array-json',
        jsonShape: '{"data": [[...], ...]}',
      });
      return replyStored(reply, 'arrays', await storeArray(svc, request.principal, prepared));
    },
  );

  registerCollectionReads(app, { kind: 'arrays', noun: 'array', article: 'an', schema: arraySchema });
};

export default arrays;
