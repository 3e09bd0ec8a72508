/** The dataset resource: one batch of inputs and targets. */
import { z } from 'zod';
import { arrayInfoSchema } from './common.js';

const nested = z
  .array(z.unknown())
  .min(1)
  .describe('A (nested) array of numbers; shape is inferred from nesting.');

export const datasetJsonBodySchema = z
  .object({
    inputs: nested,
    targets: nested,
  })
  .strict();

export const datasetSchema = z
  .object({
    id: z.string(),
    sha256: z.string().describe('Content hash of the canonical inputs.npy and targets.npy.'),
    numExamples: z.number().int(),
    inputs: arrayInfoSchema,
    targets: arrayInfoSchema,
    bytes: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: 'Dataset' });
export type DatasetRecord = z.output<typeof datasetSchema>;
