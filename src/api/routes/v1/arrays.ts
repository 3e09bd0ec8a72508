/** /v1/arrays: standalone arrays, e.g. the vectors of hvp / ggnvp / inverse_hvp jobs. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads } from './upload-collection.js';
import { registerDualUpload } from './dual-upload.js';
import { arrayJsonBodySchema, arraySchema } from '../../schemas/arrays.js';
import type { ArrayInfo } from '../../upload-tasks.js';
import { storeArray } from '../../uploads.js';

const arrays: FastifyPluginAsyncZod = async (app) => {
  registerDualUpload<ArrayInfo, { id: string }>(app, {
    kind: 'arrays',
    summary: 'Upload an array (e.g. k×P vectors for hvp)',
    description: 'multipart/form-data with one `array` part (.npy), or a JSON body `{data: [[...], ...]}`.',
    jsonBody: arrayJsonBodySchema,
    record: arraySchema,
    upload: {
      parts: ['array'],
      multipartTask: 'array-parts',
      jsonTask: 'array-json',
      jsonShape: '{"data": [[...], ...]}',
    },
    store: (prepared, owner) => storeArray(app.svc, owner, prepared),
  });

  registerCollectionReads(app, { kind: 'arrays', noun: 'array', article: 'an', schema: arraySchema });
};

export default arrays;
