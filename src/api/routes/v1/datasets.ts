/** /v1/datasets: upload (multipart .npy pair or .npz, or JSON), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads } from './upload-collection.js';
import { acceptRawJson, passThroughValidator, rawBody } from './raw-json.js';
import { readParts } from '../../multipart.js';
import { badRequest } from '../../problem.js';
import { commonProblems, problemSchema } from '../../schemas/common.js';
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
        response: {
          200: datasetSchema,
          201: datasetSchema,
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
      let prepared: PreparedBundle<DatasetInfo>;
      if (request.isMultipart()) {
        const parts = await readParts(request, ['inputs', 'targets', 'npz'], maxBytes);
        prepared = await app.decoder.run({ kind: 'dataset-parts', parts, maxBytes });
      } else {
        const body = rawBody(request.body);
        if (!body) throw badRequest('invalid_upload', 'send a JSON body {"inputs": [...], "targets": [...]}');
        prepared = await app.decoder.run({ kind: 'dataset-json', body, maxBytes });
      }
      const { record, created } = await storeDataset(svc, request.principal, prepared);
      void reply.code(created ? 201 : 200).header('location', `/v1/datasets/${record.id}`);
      return record;
    },
  );

  registerCollectionReads(app, { kind: 'datasets', noun: 'dataset', article: 'a', schema: datasetSchema });
};

export default datasets;
