/** /v1/jobs: submit (checked before queuing, idempotent), poll, list, cancel, download artifacts. */
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { isEngineError } from '../../../contract/errors.js';
import { dataGroupsOf, resolveShards } from '../../../contract/sharding.js';
import { listWorkers } from '../../../queue/worker-registry.js';
import { IdempotencyConflictError, IdempotencyInFlightError } from '../../../queue/producer.js';
import { badRequest, notFound, ProblemError } from '../../problem.js';
import { commonProblems, idParamsSchema, pageOf, problemSchema } from '../../schemas/common.js';
import {
  artifactParamsSchema,
  jobListQuerySchema,
  jobRequestSchema,
  jobViewSchema,
  type JobRequest,
} from '../../schemas/jobs.js';
import type { CheckedJob } from '../../upload-tasks.js';
import { getOwned } from '../../uploads.js';

type App = Parameters<FastifyPluginAsyncZod>[0];

/** Seconds a client should wait between polls. */
const POLL_AFTER_SECONDS = 1;

/** The datasets of a request, in order: its `datasetIds`, or its one `datasetId`. */
const datasetIdsOf = (body: JobRequest): string[] => body.datasetIds ?? [body.datasetId!];

/**
 * Runs every check the engine can do without computing, against the caller's own stored uploads (anyone else's id
 * is a 404), in a decoding thread: loading a large dataset must not stall the event loop.
 */
async function checkJob(app: App, principal: string, body: JobRequest): Promise<CheckedJob> {
  const svc = app.svc;
  const datasetIds = datasetIdsOf(body);
  const [model, vectors, ...datasets] = await Promise.all([
    getOwned(svc, 'models', body.modelId, principal),
    body.vectorsId ? getOwned(svc, 'arrays', body.vectorsId, principal) : Promise.resolve(true),
    ...datasetIds.map((id) => getOwned(svc, 'datasets', id, principal)),
  ]);
  if (!model) throw notFound('model', body.modelId);
  const missing = datasetIds.findIndex((_, i) => !datasets[i]);
  if (missing >= 0) throw notFound('dataset', datasetIds[missing]);
  if (!vectors) throw notFound('array', body.vectorsId!);
  const maxDenseBytes = svc.config.maxDenseBytes;
  let checked: CheckedJob;
  try {
    checked = await app.decoder.run<CheckedJob>({
      kind: 'check-job',
      storage: svc.config.storage,
      maxDenseBytes,
      job: {
        modelId: body.modelId,
        datasetIds,
        vectorsId: body.vectorsId,
        loss: body.loss,
        method: body.method,
        parameters: body.parameters,
        seed: body.seed,
      },
    });
  } catch (err) {
    if (isEngineError(err) && err.code === 'too_large') {
      throw new ProblemError(
        413,
        'too_large',
        `${err.message} This service computes dense results for at most MAX_DENSE_PARAMS=${svc.config.maxDenseParams} parameters: select fewer with "parameters.include", or use a matrix-free method (hvp, diagonal, diagonal_estimate, trace, eigen, density).`,
        err.details ? { details: err.details } : {},
      );
    }
    throw err;
  }
  const ttl = svc.config.uploadTtlSeconds;
  await svc.meta.touch('models', body.modelId, ttl);
  for (const id of datasetIds) await svc.meta.touch('datasets', id, ttl);
  if (body.vectorsId) await svc.meta.touch('arrays', body.vectorsId, ttl);
  return checked;
}

const jobs: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Submit a curvature job',
        description:
          'Everything checkable is checked before queuing (ids, loss/targets, parameter names, vector shapes, ' +
          'dense size limit). Send an `Idempotency-Key` header to make retries safe: the same key with the same ' +
          'request returns the first job; with a different request, 409.',
        body: jobRequestSchema,
        response: {
          202: jobViewSchema,
          404: problemSchema,
          409: problemSchema,
          413: problemSchema,
          422: problemSchema,
          ...commonProblems,
        },
      },
    },
    async (request, reply) => {
      const raw = request.headers['idempotency-key'];
      const idemKey = Array.isArray(raw) ? raw[0] : raw;
      if (idemKey !== undefined && (idemKey.length === 0 || idemKey.length > 255)) {
        throw badRequest('invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 characters');
      }
      const body = request.body;
      if (body.vectorsId && (body.method as { vectors?: unknown }).vectors !== undefined) {
        throw badRequest(
          'invalid_request',
          'give the vectors either inline ("method.vectors") or as an uploaded array ("vectorsId"), not both',
        );
      }
      // The job is queued with the method as it will run (P-dependent defaults filled), checked once here.
      const { method, units, byDataset, examples } = await checkJob(app, request.principal, body);
      const requested = body.execution?.shards ?? 'auto';
      // Live worker slots, read only when they matter (an auto-split job whose method splits).
      const slots =
        requested === 'auto' && units !== null
          ? (await listWorkers(svc.redis, svc.config.queuePrefix)).reduce((n, w) => n + w.concurrency, 0)
          : 1;
      const spreadData = byDataset && body.execution?.byDataset !== false;
      const resolved = resolveShards(requested, units, slots, spreadData ? examples.length : 1);
      const spread = dataGroupsOf(resolved, examples.length, spreadData);
      let submitted;
      try {
        submitted = await svc.jobs.submit(
          {
            modelId: body.modelId,
            datasetId: datasetIdsOf(body)[0],
            ...(body.datasetIds && { datasetIds: body.datasetIds }),
            vectorsId: body.vectorsId,
            loss: body.loss,
            method,
            parameters: body.parameters,
            seed: body.seed,
            execution: {
              shards: spread.shards,
              requested,
              ...(spread.groups > 1 && { dataGroups: spread.groups }),
            },
            ...(examples.length > 1 && { examples }),
          },
          { owner: request.principal, idempotency: idemKey ? { key: idemKey } : undefined },
        );
      } catch (err) {
        if (err instanceof IdempotencyConflictError) {
          throw new ProblemError(409, 'idempotency_key_reused', err.message, { jobId: err.jobId });
        }
        if (err instanceof IdempotencyInFlightError) {
          throw new ProblemError(409, 'idempotency_key_in_use', err.message, {}, { 'retry-after': '2' });
        }
        throw err;
      }
      const view = await svc.jobs.view(submitted.record.id, request.principal);
      request.log.info({ jobId: submitted.record.id, created: submitted.created }, 'job submitted');
      void reply
        .code(202)
        .header('location', `/v1/jobs/${submitted.record.id}`)
        .header('retry-after', String(POLL_AFTER_SECONDS));
      if (!submitted.created) void reply.header('idempotent-replayed', 'true');
      return view!;
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs, newest first',
        querystring: jobListQuerySchema,
        response: { 200: pageOf(jobViewSchema), ...commonProblems },
      },
    },
    async (request) => svc.jobs.list({ ...request.query, owner: request.principal }),
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Get a job: status, progress, result summary and artifact links',
        params: idParamsSchema,
        response: { 200: jobViewSchema, 404: problemSchema, ...commonProblems },
      },
    },
    async (request, reply) => {
      const view = await svc.jobs.view(request.params.id, request.principal);
      if (!view) throw notFound('job', request.params.id);
      if (view.status === 'queued' || view.status === 'running') {
        void reply.header('retry-after', String(POLL_AFTER_SECONDS));
      }
      return view;
    },
  );

  app.delete(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job',
        description:
          'A queued job is cancelled at once (200); a running one at its next unit of work (202: poll until ' +
          '`cancelled`). A finished job cannot be cancelled (409).',
        params: idParamsSchema,
        response: {
          200: jobViewSchema,
          202: jobViewSchema,
          404: problemSchema,
          409: problemSchema,
          ...commonProblems,
        },
      },
    },
    async (request, reply) => {
      const outcome = await svc.jobs.cancel(request.params.id, request.principal);
      if (!outcome) throw notFound('job', request.params.id);
      if (!outcome.accepted) {
        throw new ProblemError(
          409,
          'job_finished',
          `the job already ${outcome.view.status}; nothing to cancel`,
          { jobStatus: outcome.view.status },
        );
      }
      void reply.code(outcome.view.status === 'cancelled' ? 200 : 202);
      return outcome.view;
    },
  );

  app.get(
    '/jobs/:id/artifacts/:name',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Download a result array (.npy)',
        description:
          'Streams the file with Content-Disposition and an ETag (its sha256); honours If-None-Match.',
        params: artifactParamsSchema,
        response: { 404: problemSchema, 409: problemSchema, ...commonProblems },
      },
    },
    async (request, typedReply) => {
      // Untyped: this route answers with a file stream or 304, which the JSON response schemas do not describe.
      const reply = typedReply as unknown as FastifyReply;
      const { id, name } = request.params;
      const view = await svc.jobs.view(id, request.principal);
      if (!view) throw notFound('job', id);
      if (view.status !== 'succeeded' || !view.result) {
        throw new ProblemError(
          409,
          'job_not_succeeded',
          `the job is ${view.status}; artifacts exist once it succeeded`,
        );
      }
      // The name is looked up among the job's own artifacts, so a client string never reaches the filesystem.
      const artifact = view.result.artifacts.find((a) => a.name === name);
      if (!artifact) {
        throw new ProblemError(
          404,
          'artifact_not_found',
          `job ${id} has no artifact ${JSON.stringify(name)}`,
          {
            available: view.result.artifacts.map((a) => a.name),
          },
        );
      }
      const etag = `"${artifact.sha256}"`;
      void reply.header('etag', etag).header('cache-control', 'private, max-age=3600');
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      const file = await svc.store.openResult(id, artifact.name);
      if (!file) throw new ProblemError(404, 'artifact_not_found', `the file of ${name} has expired`);
      // A nested name (kfac/0-dense/A.npy) is offered as one file name: kfac_0-dense_A.npy.
      const filename = artifact.name.replaceAll('/', '_');
      return reply
        .type('application/octet-stream')
        .header('content-length', String(file.size))
        .header('content-disposition', `attachment; filename="${filename}"`)
        .send(file.stream);
    },
  );
};

export default jobs;
