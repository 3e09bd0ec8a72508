/** /v1/datasets: upload (multipart .npy pair or .npz, or JSON), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  decodeBatchFromFiles,
  decodeBatchFromJson,
  decodeBatchFromNpz,
  type Batch,
} from '../../../engine/data/decode.js';
import { readParts } from '../../multipart.js';
import { badRequest, notFound } from '../../problem.js';
import {
  commonProblems,
  idParamsSchema,
  pageOf,
  paginationQuerySchema,
  problemSchema,
} from '../../schemas/common.js';
import { datasetJsonBodySchema, datasetSchema, type DatasetRecord } from '../../schemas/datasets.js';
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

  app.get(
    '/datasets',
    {
      schema: {
        tags: ['datasets'],
        summary: 'List datasets, newest first',
        querystring: paginationQuerySchema,
        response: { 200: pageOf(datasetSchema), ...commonProblems },
      },
    },
    async (request) => svc.meta.list<DatasetRecord>('datasets', request.query),
  );

  app.get(
    '/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Get a dataset',
        params: idParamsSchema,
        response: { 200: datasetSchema, 404: problemSchema, ...commonProblems },
      },
    },
    async (request) => {
      const record = await svc.meta.get<DatasetRecord>('datasets', request.params.id);
      if (!record) throw notFound('dataset', request.params.id);
      return record;
    },
  );

  app.delete(
    '/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Delete a dataset',
        params: idParamsSchema,
        response: { 204: z.null().describe('Deleted.'), 404: problemSchema, ...commonProblems },
      },
    },
    async (request, reply) => {
      const record = await svc.meta.get<DatasetRecord>('datasets', request.params.id);
      if (!record) throw notFound('dataset', request.params.id);
      await svc.meta.delete('datasets', record);
      await svc.store.removeBundle('datasets', record.id);
      return reply.code(204).send(null);
    },
  );
};

export default datasets;
