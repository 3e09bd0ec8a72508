/** /v1/datasets: upload (multipart .npy pair or .npz, or JSON), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  decodeBatchFromFiles,
  decodeBatchFromJson,
  decodeBatchFromNpz,
  type Batch,
} from '../../../engine/data/decode.js';
import { registerCollectionReads } from './upload-collection.js';
import { readParts } from '../../multipart.js';
import { badRequest } from '../../problem.js';
import { commonProblems, problemSchema } from '../../schemas/common.js';
import { datasetJsonBodySchema, datasetSchema } from '../../schemas/datasets.js';
import { storeDataset } from '../../uploads.js';

const datasets: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;

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
    },
    async (request, reply) => {
      let batch: Batch;
      if (request.isMultipart()) {
        const parts = await readParts(request, ['inputs', 'targets', 'npz'], svc.config.maxUploadBytes);
        const by = (f: string) => parts.filter((p) => p.field === f);
        const [inputs, targets, npz] = [by('inputs'), by('targets'), by('npz')];
        if (npz.length === 1 && inputs.length === 0 && targets.length === 0) {
          batch = decodeBatchFromNpz(npz[0].bytes, npz[0].filename);
        } else if (npz.length === 0 && inputs.length === 1 && targets.length === 1) {
          batch = decodeBatchFromFiles(inputs[0], targets[0]);
        } else {
          throw badRequest(
            'invalid_upload',
            'send either one "inputs" and one "targets" part (.npy each), or a single "npz" part',
          );
        }
      } else {
        if (!request.body)
          throw badRequest('invalid_upload', 'send a JSON body {"inputs": [...], "targets": [...]}');
        batch = decodeBatchFromJson(request.body, 'body');
      }
      const { record, created } = await storeDataset(svc, batch);
      void reply.code(created ? 201 : 200).header('location', `/v1/datasets/${record.id}`);
      return record;
    },
  );

  registerCollectionReads(app, { kind: 'datasets', noun: 'dataset', article: 'a', schema: datasetSchema });
};

export default datasets;
