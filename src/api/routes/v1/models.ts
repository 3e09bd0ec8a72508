/** /v1/models: upload (multipart), get, list, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { registerCollectionReads, replyStored } from './upload-collection.js';
import { readParts } from '../../multipart.js';
import { uploadResponses } from '../../schemas/common.js';
import { modelSchema } from '../../schemas/models.js';
import type { ModelInfo, PreparedBundle } from '../../upload-tasks.js';
import { storeModel } from '../../uploads.js';

const models: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;

  app.post(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Upload a TF.js Layers or ONNX model',
        description:
          'multipart/form-data: one `model` part holding model.json and one `weights` part per shard, named as in ' +
          "the manifest's `paths`; or one `model` part holding an ONNX file (`torch.onnx.export`, detected by " +
          'content; docs/onnx.md). The model is parsed and checked now. Identical bytes give the same id (200).',
        consumes: ['multipart/form-data'],
        response: uploadResponses(modelSchema),
      },
    },
    async (request, reply) => {
      const parts = await readParts(request, ['model', 'weights'], svc.config.maxUploadBytes);
      const prepared = await app.decoder.run<PreparedBundle<ModelInfo>>({ kind: 'model', parts });
      return replyStored(reply, 'models', await storeModel(svc, request.principal, prepared));
    },
  );

  registerCollectionReads(app, {
    kind: 'models',
    noun: 'model',
    article: 'a',
    schema: modelSchema,
    deleteNote: 'jobs already queued with it will fail',
  });
};

export default models;
