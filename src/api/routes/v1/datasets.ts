/** /v1/datasets: upload (multipart .npy pair or .npz, or JSON), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads, replyStored } from './upload-collection.js';
import { acceptRawJson, decodeDualUpload, passThroughValidator } from './raw-json.js';
import { uploadResponses } from '../../schemas/common.js';
import { datasetJsonBodySchema, datasetSchema } from '../../schemas/datasets.js';
import type { DatasetInfo, PreparedBundle } from '../../upload-tasks.js';
import { storeDataset } from '../../uploads.js';

const datasets: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;
  acceptRawJson(app, svc.config.maxUploadBytes);

  app.post(
    '/datasets',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Upload a batch (inputs and targets)',
        description:
          'Either multipart/form-data with parts `inputs` and `targets` (.npy each), or one `npz` part holding ' +
          '`inputs` and `targets` (or `x` and `y`); or a JSON body `{inputs, targets}` of nested arrays. ' +
          'Identical content gives the same id (200).',
        consumes: ['application/json', 'multipart/form-data'],
        body: datasetJsonBodySchema.nullish(),
        response: uploadResponses(datasetSchema),
      },
      validatorCompiler: passThroughValidator,
    },
    async (request, reply) => {
      const prepared = await decodeDualUpload<PreparedBundle<DatasetInfo>>(app, request, {
        parts: ['inputs', 'targets', 'npz'],
        multipartTask: 'dataset-parts',
        jsonTask: 'dataset-json',
        jsonShape: '{"inputs": [...], "targets": [...]}',
      });
      return replyStored(reply, 'datasets', await storeDataset(svc, request.principal, prepared));
    },
  );

  registerCollectionReads(app, { kind: 'datasets', noun: 'dataset', article: 'a', schema: datasetSchema });
};

export default datasets;
