/**
 * The OpenAPI document, generated from the routes' zod schemas (`@fastify/swagger` with the zod transforms), and
 * Swagger UI at /docs. Multipart bodies are not zod-validated (they are streamed), so their shape is added here
 * to the generated document, which keeps "Try it out" usable for uploads.
 */
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

const file = { type: 'string', format: 'binary' };
const files = { type: 'array', items: file };

/** multipart/form-data bodies by path (POST). */
const MULTIPART_BODIES: Record<string, { properties: Record<string, unknown>; required?: string[] }> = {
  '/v1/models': {
    properties: {
      model: { ...file, description: 'model.json, or an ONNX model (.onnx, with its weights inside)' },
      weights: { ...files, description: 'weight shards' },
    },
    required: ['model'],
  },
  '/v1/datasets': {
    properties: {
      inputs: { ...file, description: 'inputs.npy' },
      targets: { ...file, description: 'targets.npy' },
      npz: { ...file, description: 'an .npz holding inputs and targets (instead of the two parts)' },
    },
  },
  '/v1/arrays': { properties: { array: { ...file, description: 'a .npy array' } }, required: ['array'] },
};

interface Operation {
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
  parameters?: unknown[];
}
type Doc = { paths?: Record<string, Record<string, Operation>> };

/** Error responses are served as application/problem+json; the zod transform labels every body application/json. */
function labelProblems(doc: Doc): void {
  for (const ops of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(ops)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const json = response.content?.['application/json'];
        if (Number(status) >= 400 && json) response.content = { 'application/problem+json': json };
      }
    }
  }
}

/** The package's version (package.json sits three levels up from this file, in src/ and in dist/ alike). */
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export const OPENAPI_INFO = {
  title: 'Hessian service',
  description:
    "Exact and approximate Hessians (and GGN, HVPs, diagonals, traces, spectra) of a TF.js Layers model's loss, " +
    'computed by queued workers. Upload a model and a batch, submit a job, poll it, download the .npy results. ' +
    'Errors are RFC 9457 application/problem+json with a stable `code`.',
  version: PACKAGE_VERSION,
};

/** Every operation's `operationId`, by method and path (a route missing here fails the OpenAPI test). */
export const OPERATION_IDS: Record<string, string> = {
  'GET /healthz': 'getHealth',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getMetrics',
  'POST /v1/models': 'uploadModel',
  'GET /v1/models': 'listModels',
  'GET /v1/models/{id}': 'getModel',
  'DELETE /v1/models/{id}': 'deleteModel',
  'POST /v1/datasets': 'uploadDataset',
  'GET /v1/datasets': 'listDatasets',
  'GET /v1/datasets/{id}': 'getDataset',
  'DELETE /v1/datasets/{id}': 'deleteDataset',
  'POST /v1/arrays': 'uploadArray',
  'GET /v1/arrays': 'listArrays',
  'GET /v1/arrays/{id}': 'getArray',
  'DELETE /v1/arrays/{id}': 'deleteArray',
  'POST /v1/jobs': 'submitJob',
  'GET /v1/jobs': 'listJobs',
  'GET /v1/jobs/{id}': 'getJob',
  'GET /v1/jobs/{id}/events': 'followJobEvents',
  'DELETE /v1/jobs/{id}': 'cancelJob',
  'GET /v1/jobs/{id}/artifacts/{name}': 'downloadArtifact',
  'GET /v1/jobs/{id}/preview': 'getJobPreview',
};

/**
 * The ids that uploading `examples/tiny/` (a 7-parameter linear model with MSE and its batch of 4 examples) gives
 * the anonymous principal (no API_KEYS): ids are derived from the owner and the content, so the example job below runs
 * as is after those two uploads. With API keys, the ids are the caller's own: use those the uploads return.
 * `test/integration/openapi-example.test.ts` uploads the files and runs the example.
 */
export const EXAMPLE_UPLOAD_IDS = {
  modelId: '8f964562ec38452cd16fd6e162238325',
  datasetId: '409db81c781478dc8b8e64e0d719bf86',
};

/** Runnable job bodies for Swagger UI's "Try it out" on POST /v1/jobs. */
export const JOB_EXAMPLES: Record<string, { summary: string; description: string; value: unknown }> = {
  hessian: {
    summary: 'Dense Hessian of the examples/tiny model',
    description:
      'First upload examples/tiny/model.json with group1-shard1of1.bin (POST /v1/models, fields "model" and ' +
      '"weights") and examples/tiny/inputs.npy with targets.npy (POST /v1/datasets). Without API keys their ids ' +
      'are the ones below; with keys, put the ids your uploads returned.',
    value: { ...EXAMPLE_UPLOAD_IDS, loss: { name: 'mean_squared_error' }, method: { name: 'hessian' } },
  },
  eigen: {
    summary: 'Top 2 eigenvalues (Lanczos) of the same Hessian',
    description: 'The same uploads as the first example.',
    value: { ...EXAMPLE_UPLOAD_IDS, loss: { name: 'mean_squared_error' }, method: { name: 'eigen', k: 2 } },
  },
  trace: {
    summary: 'Seeded Hutchinson trace, split into 2 pieces',
    description:
      'The same uploads; the pieces run on whichever workers are free, and the estimate equals 1 piece.',
    value: {
      ...EXAMPLE_UPLOAD_IDS,
      loss: { name: 'mean_squared_error' },
      method: { name: 'trace', estimator: 'hutchinson', probes: 64 },
      seed: 7,
      execution: { shards: 2 },
    },
  },
};

async function openapi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      tags: [
        { name: 'models', description: 'TF.js Layers models (model.json + shards)' },
        { name: 'datasets', description: 'Batches of inputs and targets' },
        { name: 'arrays', description: 'Standalone arrays (vectors for hvp / inverse_hvp)' },
        { name: 'jobs', description: 'Curvature jobs' },
        { name: 'ops', description: 'Health, readiness, metrics' },
      ],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => {
      const doc = jsonSchemaTransformObject(input) as Doc;
      for (const [path, body] of Object.entries(MULTIPART_BODIES)) {
        const op = doc.paths?.[path]?.post;
        if (!op) continue;
        op.requestBody ??= {};
        op.requestBody.content = {
          ...(op.requestBody.content ?? {}),
          'multipart/form-data': { schema: { type: 'object', ...body } },
        };
      }
      labelProblems(doc);
      for (const [path, ops] of Object.entries(doc.paths ?? {})) {
        for (const [method, op] of Object.entries(ops)) {
          const key = `${method.toUpperCase()} ${path}`;
          const described = op as Operation & { operationId?: string; security?: unknown[] };
          described.operationId = OPERATION_IDS[key];
          // The /v1 routes need a key when API_KEYS is set (documented always, so the committed document does not
          // depend on the deployment); health, readiness and metrics never do.
          if (path.startsWith('/v1/')) described.security = [{ bearerAuth: [] }];
        }
      }
      const submit = doc.paths?.['/v1/jobs']?.post;
      if (submit) {
        const json = submit.requestBody?.content?.['application/json'] as { examples?: unknown } | undefined;
        if (json) json.examples = JOB_EXAMPLES;
        submit.parameters = [
          ...(submit.parameters ?? []),
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            schema: { type: 'string', minLength: 1, maxLength: 255 },
            description:
              'Retries with the same key and the same body return the first job instead of a new one.',
          },
        ];
      }
      const download = doc.paths?.['/v1/jobs/{id}/artifacts/{name}']?.get;
      if (download) {
        download.responses = {
          200: {
            description: 'The array as a NumPy .npy file (float32, C order).',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          304: { description: 'Not modified (If-None-Match matched the ETag).' },
          ...download.responses,
        } as Operation['responses'];
      }
      const events = doc.paths?.['/v1/jobs/{id}/events']?.get;
      if (events) {
        events.parameters = [
          ...(events.parameters ?? []),
          {
            name: 'Last-Event-ID',
            in: 'header',
            required: false,
            schema: { type: 'string', maxLength: 200 },
            description: 'The `id` of the last event received: resume without the events already seen.',
          },
        ];
        events.responses = {
          ...events.responses,
          200: {
            description:
              'Events until the job is final: `event: progress` / `event: done`, each with `id:` and the job view ' +
              '(JSON) as `data:`.',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
        } as Operation['responses'];
      }
      return doc as ReturnType<typeof jsonSchemaTransformObject>;
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Swagger UI's own policy (hashes of its inline scripts) replaces the API's strict one on /docs only. Its React
    // views set style attributes, which need 'unsafe-inline' for styles (scripts stay hash-only; a browser test
    // shows the page renders with no violation). Served over plain HTTP locally, so no upgrade-insecure-requests.
    staticCSP: true,
    transformStaticCSP: (header) =>
      header
        .replace(/\s*upgrade-insecure-requests;?/, '')
        .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';"),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(openapi, { name: 'openapi' });
