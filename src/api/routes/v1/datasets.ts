/** /v1/datasets: upload (multipart .npy pair or .npz, or JSON), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads } from './upload-collection.js';
import { registerDualUpload } from './dual-upload.js';
import { datasetJsonBodySchema, datasetSchema } from '../../schemas/datasets.js';
import type { DatasetInfo } from '../../upload-tasks.js';
import { storeDataset } from '../../uploads.js';

const datasets: FastifyPluginAsyncZod = async (app) => {
  registerDualUpload<DatasetInfo, { id: string }>(app, {
    kind: 'datasets',
    summary: 'Upload a batch (inputs and targets)',
    description:
      'Either multipart/form-data with parts `inputs` and `targets` (.npy each), or one `npz` part holding ' +
      '`inputs` and `targets` (or `x` and `y`); or a JSON body `{inputs, targets}` of nested arrays. ' +
      'For a model with several inputs or outputs, give one array per input and output, keyed by layer name: ' +
      'parts (or npz keys, or JSON keys) `inputs.<input name>` and `targets.<output name>`, or an `inputs` ' +
      '(`targets`) part that is an .npz keyed by input (output) names. Identical content gives the same id (200).',
    jsonBody: datasetJsonBodySchema,
    record: datasetSchema,
    upload: {
      parts: ['inputs', 'targets', 'npz', 'inputs.*', 'targets.*'],
      multipartTask: 'dataset-parts',
      jsonTask: 'dataset-json',
      jsonShape: '{"inputs": [...], "targets": [...]}',
    },
    store: (prepared, owner) => storeDataset(app.svc, owner, prepared),
  });

  registerCollectionReads(app, { kind: 'datasets', noun: 'dataset', article: 'a', schema: datasetSchema });
};

export default datasets;
