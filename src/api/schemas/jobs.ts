/** The job resource: the request (built from the engine's vocabulary) and the job's public view. */
import { z } from 'zod';
import { lossSpecSchema, methodSpecSchema, parameterSelectionSchema } from '../../contract/request-schema.js';
import { JOB_STATUSES, jobViewSchema } from '../../contract/job.js';

export { jobViewSchema };
import { paginationQuerySchema } from './common.js';

const id = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'ids contain only letters, digits, "_" and "-"' });

export const jobRequestSchema = z
  .object({
    modelId: id.describe('From POST /v1/models.'),
    datasetId: id.describe('From POST /v1/datasets.'),
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
  })
  .strict()
  .meta({ id: 'JobRequest' });
export type JobRequest = z.output<typeof jobRequestSchema>;

export const jobListQuerySchema = paginationQuerySchema.extend({
  status: z.enum(JOB_STATUSES).optional().describe('Only jobs in this status.'),
});

export const artifactParamsSchema = z.object({
  id: id,
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}(\/[A-Za-z0-9_.-]{1,100}){0,3}$/, { error: 'not an artifact name' })
    .describe('The artifact name as the job lists it; "/" in nested names (kfac/0-dense/A.npy) as %2F.'),
});
