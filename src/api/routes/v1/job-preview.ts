/**
 * GET /v1/jobs/{id}/preview: a finished job's results as bounded, plot-ready numbers for the results page (a dense
 * matrix as at most 128×128 block means, a diagonal's histograms and per-tensor statistics, the spectral density,
 * eigenvalues), so a browser never downloads a 256 MB Hessian to draw it. The files are streamed from the storage in
 * an upload decoder thread (`preview/task.ts`), never on the event loop; results do not change once a job succeeded,
 * so the last few previews are kept in memory.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ParameterSelection } from '../../../contract/request-schema.js';
import { notFound, ProblemError } from '../../problem.js';
import { eigenvaluesOf } from '../../preview/accumulators.js';
import { PREVIEW_LIMITS, type ArtifactPreview } from '../../preview/task.js';
import { commonProblems, idParamsSchema, problemSchema } from '../../schemas/common.js';
import { jobPreviewSchema, type JobPreview } from '../../schemas/preview.js';

/** Previews kept (each at most a few hundred KB: 128² cells, 1024 curve points, 2000 tensors). */
const CACHED_PREVIEWS = 16;

const jobPreview: FastifyPluginAsyncZod = async (app) => {
  const svc = app.svc;
  // Keyed by job and the artifacts' hashes; insertion order makes it an LRU (a hit is moved to the end).
  const cache = new Map<string, JobPreview>();

  app.get(
    '/jobs/:id/preview',
    {
      schema: {
        tags: ['jobs'],
        summary: "A finished job's results as plot-ready numbers",
        description:
          'Bounded whatever the result size: a dense hessian/ggn/fisher as the signed block means of at most ' +
          '128×128 cells, a diagonal as histograms (of d and of log10 |d|) and mean/max |d| per parameter tensor, ' +
          'the spectral density (at most 1024 points), eigenvalues (of `eigen`, or the 5 largest Ritz values of a ' +
          "density's first probe), and the parameter layout. The results page (/jobs/{id}) draws it. 409 until " +
          'the job has succeeded.',
        params: idParamsSchema,
        response: { 200: jobPreviewSchema, 404: problemSchema, 409: problemSchema, ...commonProblems },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const view = await svc.jobs.view(id, request.principal);
      if (!view) throw notFound('job', id);
      if (view.status !== 'succeeded' || !view.result) {
        throw new ProblemError(
          409,
          'job_not_succeeded',
          `the job is ${view.status}; its preview exists once it succeeded`,
          { jobStatus: view.status },
        );
      }
      const result = view.result;
      void reply.header('cache-control', 'private, max-age=3600');
      const key = `${id}:${result.artifacts.map((a) => a.sha256).join(',')}`;
      const cached = cache.get(key);
      if (cached) {
        cache.delete(key);
        cache.set(key, cached);
        return cached;
      }
      const req = view.request as { modelId?: unknown; parameters?: ParameterSelection };
      const files = await app.decoder.run<ArtifactPreview>({
        kind: 'job-preview',
        storage: svc.config.storage,
        jobId: id,
        method: result.method,
        numParams: result.numParams,
        modelId: typeof req.modelId === 'string' ? req.modelId : undefined,
        parameters: req.parameters,
        artifacts: result.artifacts.map((a) => ({ name: a.name, shape: a.shape })),
      });
      const { preview: _kind, notes, ...plots } = files;
      const eigenvalues = eigenvaluesOf(result.method, result.summary, PREVIEW_LIMITS.eigenvalues);
      const preview: JobPreview = {
        jobId: id,
        method: result.method,
        numParams: result.numParams,
        ...plots,
        ...(eigenvalues && { eigenvalues }),
        notes,
      };
      cache.set(key, preview);
      while (cache.size > CACHED_PREVIEWS) cache.delete(cache.keys().next().value!);
      return preview;
    },
  );
};

export default jobPreview;
