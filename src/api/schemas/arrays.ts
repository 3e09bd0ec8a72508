/** The array resource: a standalone array such as the k×P vectors of an hvp / ggnvp / inverse_hvp job. */
import { z } from 'zod';

export const arrayJsonBodySchema = z
  .object({
    data: z.array(z.unknown()).min(1).describe('A (nested) array of numbers; a k×P matrix for vectors.'),
  })
  .strict();

export const arraySchema = z
  .object({
    id: z.string(),
    sha256: z.string(),
    shape: z.array(z.number().int()),
    dtype: z.string(),
    bytes: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: 'Array' });
export type ArrayRecord = z.output<typeof arraySchema>;
