/** The model resource. Uploads are multipart (documented in the OpenAPI document by hand, see swagger plugin). */
import { z } from 'zod';

export const modelSchema = z
  .object({
    id: z.string(),
    sha256: z.string().describe('Content hash of model.json and the shards, in manifest order.'),
    numParams: z.number().int().describe('Trainable parameters P.'),
    parameters: z.array(
      z.object({ name: z.string(), shape: z.array(z.number().int()), size: z.number().int() }),
    ),
    inputShape: z
      .array(z.number().int().nullable())
      .describe(
        'Of the first input, batch axis null; null marks a variable axis (its size comes from the batch).',
      ),
    outputShape: z.array(z.number().int().nullable()).describe('Of the first output.'),
    inputs: z
      .array(z.object({ name: z.string(), shape: z.array(z.number().int().nullable()), dtype: z.string() }))
      .describe('Every input: a batch for a model with several gives one array per input, keyed by name.'),
    outputs: z
      .array(z.object({ name: z.string(), shape: z.array(z.number().int().nullable()) }))
      .describe('Every output: targets for a model with several are keyed by output name.'),
    layers: z.array(z.object({ name: z.string(), className: z.string() })),
    bytes: z.number().int().describe('Total size of model.json and the shards.'),
    createdAt: z.string(),
  })
  .meta({ id: 'Model' });
export type ModelRecord = z.output<typeof modelSchema>;
