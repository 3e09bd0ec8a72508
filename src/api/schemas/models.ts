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
    inputShape: z.array(z.number().int().nullable()),
    outputShape: z.array(z.number().int().nullable()),
    layers: z.array(z.object({ name: z.string(), className: z.string() })),
    bytes: z.number().int().describe('Total size of model.json and the shards.'),
    createdAt: z.string(),
  })
  .meta({ id: 'Model' });
export type ModelRecord = z.output<typeof modelSchema>;
