/** The dataset resource: one batch of inputs and targets. */
import { z } from 'zod';
import { arrayInfoSchema } from './common.js';

const nested = z
  .array(z.unknown())
  .min(1)
  .describe('A (nested) array of numbers; shape is inferred from nesting.');

export const datasetJsonBodySchema = z
  .object({
    inputs: nested.optional(),
    targets: nested.optional(),
  })
  .catchall(nested)
  .describe('`inputs` and `targets`, or `inputs.<input name>` and `targets.<output name>` keys.');

export const datasetSchema = z
  .object({
    id: z.string(),
    sha256: z.string().describe('Content hash of the canonical .npy files of the arrays.'),
    numExamples: z.number().int(),
    inputs: arrayInfoSchema.optional().describe('The inputs array (absent when inputs are named).'),
    targets: arrayInfoSchema.optional().describe('The targets array (absent when targets are named).'),
    arrays: z
      .array(arrayInfoSchema.extend({ name: z.string() }))
      .optional()
      .describe('Every array: inputs and targets, or inputs.<name> and targets.<name>.'),
    bytes: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: 'Dataset' });
export type DatasetRecord = z.output<typeof datasetSchema>;
