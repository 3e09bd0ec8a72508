/** The job resource: the request (built from the engine's vocabulary) and the job's public view. */
import { z } from 'zod';
import { lossSpecSchema, methodSpecSchema, parameterSelectionSchema } from '../../contract/request-schema.js';
import { JOB_STATUSES, jobViewSchema } from '../../contract/job.js';
import { AUTO_MIN_UNITS_PER_SHARD, MAX_AUTO_SHARDS, MAX_SHARDS } from '../../contract/sharding.js';

export { jobViewSchema };
import { paginationQuerySchema } from './common.js';

const id = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'ids contain only letters, digits, "_" and "-"' });

/** Datasets one job may combine. */
export const MAX_DATASETS = 64;

export const jobRequestSchema = z
  .object({
    modelId: id.describe('From POST /v1/models.'),
    datasetId: id.optional().describe('From POST /v1/datasets. Give this or datasetIds.'),
    datasetIds: z
      .array(id)
      .min(1)
      .max(MAX_DATASETS)
      .optional()
      .describe(
        `Several datasets (at most ${MAX_DATASETS}, same model and loss) whose examples together form the batch, in ` +
          'order: how a batch larger than one upload is sent. The curvature is the example-weighted mean over them ' +
          '(their sum with reduction "sum"), exactly as for their concatenation uploaded as one. Give this or datasetId.',
      ),
    loss: lossSpecSchema.meta({ id: 'LossSpec' }),
    parameters: parameterSelectionSchema.meta({ id: 'ParameterSelection' }).optional(),
    method: methodSpecSchema.meta({ id: 'MethodSpec' }),
    vectorsId: id
      .optional()
      .describe(
        'From POST /v1/arrays: the k×P vectors of hvp / ggnvp / inverse_hvp / kfac (instead of method.vectors).',
      ),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional()
      .describe('Seed of the random probes.'),
    execution: z
      .object({
        shards: z
          .union([z.number().int().min(1).max(MAX_SHARDS), z.literal('auto')])
          .default('auto')
          .describe(
            `Pieces the job runs as, each on whichever worker takes it (at most ${MAX_SHARDS}, and one per unit: ` +
              'column, probe, vector). "auto": about one per live worker slot (at most ' +
              `${MAX_AUTO_SHARDS}, with ${AUTO_MIN_UNITS_PER_SHARD} units or more each); 1 when one worker is ` +
              'alive. Methods without independent units (eigen, kfac, Hutch++, one product) run as one. The ' +
              'result does not depend on it: dense columns are the same bytes, probes the same draws.',
          ),
        byDataset: z
          .boolean()
          .default(true)
          .describe(
            'With several datasets: give the pieces disjoint groups of datasets (each worker loads only its ' +
              'group; the results are their example-weighted sum), for the methods whose results add over ' +
              'examples (dense columns, exact diagonal, exact/Hutchinson trace, products; not the Monte-Carlo ' +
              'Fisher). false: every piece loads every dataset.',
          ),
      })
      .strict()
      .optional()
      .describe('How the job is spread over the workers.'),
    callback: z
      .object({
        url: z
          .string()
          .max(2048)
          .describe(
            "http(s) URL the service POSTs the final job view to. Its host must be on the service's allow-list " +
              '(CALLBACK_ALLOWED_HOSTS; none by default, which refuses every callback with 422).',
          ),
        secret: z
          .string()
          .min(16, { error: 'callback.secret must be at least 16 characters (use 32 random bytes, hex)' })
          .max(256)
          .describe(
            'Key of the signature: each delivery carries `Hessian-Signature: sha256=<hex HMAC-SHA256 of the raw ' +
              'body with this secret>`. Never shown back.',
          ),
      })
      .strict()
      .optional()
      .describe(
        'Be called back when the job ends (succeeded, failed or cancelled): a signed POST of the job view, retried ' +
          'with backoff on network errors, 5xx, 408 and 429 for a bounded number of attempts; the job view lists ' +
          'the attempts under `callback`.',
      ),
  })
  .strict()
  .refine((r) => (r.datasetId === undefined) !== (r.datasetIds === undefined), {
    error: 'give the batch as "datasetId" (one dataset) or "datasetIds" (several), exactly one of them',
    path: ['datasetIds'],
  })
  .refine((r) => new Set(r.datasetIds ?? []).size === (r.datasetIds ?? []).length, {
    error:
      '"datasetIds" lists a dataset twice; give each once (upload the examples again to weight them twice)',
    path: ['datasetIds'],
  })
  .meta({ id: 'JobRequest' });
export type JobRequest = z.output<typeof jobRequestSchema>;

export const jobListQuerySchema = paginationQuerySchema.extend({
  status: z.enum(JOB_STATUSES).optional().describe('Only jobs in this status.'),
});

export const jobGetQuerySchema = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(60, { error: 'wait is at most 60 seconds; poll again, or follow GET /v1/jobs/{id}/events' })
    .optional()
    .describe('Long poll: answer once the job is final, or after this many seconds (0 to 60).'),
});

export const artifactParamsSchema = z.object({
  id: id,
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}(\/[A-Za-z0-9_.-]{1,100}){0,3}$/, { error: 'not an artifact name' })
    .describe('The artifact name as the job lists it; "/" in nested names (kfac/0-dense/A.npy) as %2F.'),
});
