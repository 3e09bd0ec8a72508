/**
 * The OpenAPI document, generated from the routes' zod schemas (`@fastify/swagger` with the zod transforms), and
 * Swagger UI at /docs. Multipart bodies are not zod-validated (they are streamed), so their shape is added here
 * to the generated document, which keeps "Try it out" usable for uploads.
 */
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

export const OPENAPI_INFO = {
  title: 'Hessian service',
  description:
    "Exact and approximate Hessians (and GGN, HVPs, diagonals, traces, spectra) of a TF.js Layers model's loss, " +
    'computed by queued workers. Upload a model and a batch, submit a job, poll it, download the .npy results. ' +
    'Errors are RFC 9457 application/problem+json with a stable `code`.',
  version: '1.0.0',
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
      // Documented always (API_KEYS is a deployment choice), so the committed document does not depend on the env.
      security: [{ bearerAuth: [] }],
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
      const submit = doc.paths?.['/v1/jobs']?.post;
      if (submit) {
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
