/**
 * /v1/jobs: submit (checked before queuing, idempotent, with an optional signed callback), poll (or long-poll, or
 * follow as server-sent events), list, cancel, download artifacts.
 */
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isEngineError } from '../../../contract/errors.js';
import { dataGroupsOf, resolveShards } from '../../../contract/sharding.js';
import { callbackRefusal } from '../../../queue/callbacks.js';
import { listWorkers } from '../../../queue/worker-registry.js';
import { isFinal, jobViews, viewToken, WatchLimiter } from '../../job-watch.js';
import { IdempotencyConflictError, IdempotencyInFlightError } from '../../../queue/producer.js';
import { badRequest, notFound, ProblemError } from '../../problem.js';
import { commonProblems, idParamsSchema, pageOf, problemSchema } from '../../schemas/common.js';
import {
  artifactParamsSchema,
  jobGetQuerySchema,
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

/** How often a watched job (events stream, long poll) is read. */
const WATCH_INTERVAL_MS = 500;
/** An events stream is closed after this long; the client reconnects with Last-Event-ID. */
const MAX_STREAM_MS = 30 * 60 * 1000;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;
/** A client that reads less than this far behind the stream is cut off rather than buffered for. */
const MAX_UNREAD_BYTES = 1024 * 1024;
/** Open event streams and long polls: per API process, and per principal. */
const MAX_WATCHES = 512;
const MAX_WATCHES_PER_PRINCIPAL = 64;

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
  const watches = new WatchLimiter(MAX_WATCHES, MAX_WATCHES_PER_PRINCIPAL);
  /** The open watches, ended when the server closes (an open stream would otherwise hold it). */
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const ac of open) ac.abort();
  });
  /** An abort controller for one watch: aborted when the client goes, after `ms`, or when the server closes. */
  const watch = (reply: FastifyReply, ms: number) => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    const onClose = () => ac.abort();
    reply.raw.once('close', onClose);
    open.add(ac);
    return {
      signal: ac.signal,
      end() {
        clearTimeout(timer);
        reply.raw.off('close', onClose);
        open.delete(ac);
      },
    };
  };

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
      if (body.callback) {
        const refusal = callbackRefusal(body.callback.url, svc.config.callbackAllowedHosts);
        if (refusal) throw new ProblemError(422, 'callback_not_allowed', refusal);
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
          {
            owner: request.principal,
            idempotency: idemKey ? { key: idemKey } : undefined,
            callback: body.callback,
          },
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
        description:
          'With `wait=N` (seconds, at most 60) the answer waits until the job is in a final state (succeeded, ' +
          'failed, cancelled) or N seconds have passed, whichever comes first: a long poll. Without it, it answers at ' +
          'once; poll again after `Retry-After` seconds while the job is queued or running.',
        params: idParamsSchema,
        querystring: jobGetQuerySchema,
        response: { 200: jobViewSchema, 404: problemSchema, ...commonProblems },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      let view = await svc.jobs.view(id, request.principal);
      if (!view) throw notFound('job', id);
      const wait = request.query.wait ?? 0;
      // Beyond the open-watch limit a long poll answers at once, like a plain poll.
      const release = wait > 0 && !isFinal(view) ? watches.acquire(request.principal) : null;
      if (release) {
        const w = watch(reply as unknown as FastifyReply, wait * 1000);
        try {
          const views = jobViews(svc.jobs, id, request.principal, {
            signal: w.signal,
            intervalMs: WATCH_INTERVAL_MS,
            since: viewToken(view),
          });
          for await (const next of views) {
            view = next.view;
            if (isFinal(view)) break;
          }
        } finally {
          w.end();
          release();
        }
      }
      if (!isFinal(view)) void reply.header('retry-after', String(POLL_AFTER_SECONDS));
      return view;
    },
  );

  app.get(
    '/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Follow a job as server-sent events: its progress, then its final state',
        description:
          'A `text/event-stream`. Each event carries the whole job view (as GET /v1/jobs/{id}) as its `data`: ' +
          '`event: progress` whenever the status, progress, pieces or callback change (the first at once), then ' +
          '`event: done` with the final view, after which the stream ends. Every event has an `id`; a client that ' +
          'reconnects with `Last-Event-ID` gets only what changed since (and always the final `done`). A comment ' +
          'line every 15 s keeps proxies from closing it; the service ends a stream after 30 minutes (reconnect ' +
          'with Last-Event-ID). With API_KEYS, send the key as for any /v1 route (`Authorization`), so read it ' +
          'with fetch() rather than EventSource.',
        params: idParamsSchema,
        response: {
          200: z.string().describe('text/event-stream'),
          404: problemSchema,
          429: problemSchema,
          ...commonProblems,
        },
      },
    },
    async (request, typedReply) => {
      const reply = typedReply as unknown as FastifyReply;
      const { id } = request.params;
      if (!(await svc.jobs.view(id, request.principal))) throw notFound('job', id);
      const raw = request.headers['last-event-id'];
      const since = typeof raw === 'string' && raw.length <= 200 ? raw : undefined;
      const release = watches.acquire(request.principal);
      if (!release) {
        throw new ProblemError(
          429,
          'too_many_watches',
          `too many open event streams and long polls (at most ${MAX_WATCHES_PER_PRINCIPAL} per API key); close some, or poll GET /v1/jobs/{id}`,
          {},
          { 'retry-after': '5' },
        );
      }
      const w = watch(reply, MAX_STREAM_MS);
      reply.hijack();
      const out = reply.raw;
      out.on('error', () => undefined);
      // The headers set so far (security headers, rate-limit counters) go out with the stream's own.
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders()))
        if (value !== undefined) headers[name] = value;
      out.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      });
      const send = (text: string) => {
        if (out.writableEnded || out.destroyed) return;
        out.write(text);
        if (out.writableLength > MAX_UNREAD_BYTES) out.destroy();
      };
      send('retry: 2000\n\n');
      const keepAlive = setInterval(() => send(': keep-alive\n\n'), KEEP_ALIVE_MS);
      try {
        const views = jobViews(svc.jobs, id, request.principal, {
          signal: w.signal,
          intervalMs: WATCH_INTERVAL_MS,
          since,
        });
        for await (const { view, token } of views) {
          send(
            `id: ${token}\nevent: ${isFinal(view) ? 'done' : 'progress'}\ndata: ${JSON.stringify(view)}\n\n`,
          );
        }
      } catch (err) {
        request.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'event stream failed');
        send(
          `event: error\ndata: ${JSON.stringify({ code: 'unavailable', message: 'the job could not be read; reconnect with Last-Event-ID' })}\n\n`,
        );
      } finally {
        clearInterval(keepAlive);
        w.end();
        release();
        if (!out.destroyed) out.end();
      }
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
