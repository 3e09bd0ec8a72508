/** Schemas shared by several resources: ids, pagination, problem details. */
import { z } from 'zod';

export const idParamsSchema = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'ids contain only letters, digits, "_" and "-"' })
    .describe('Resource id.'),
});

export const paginationQuerySchema = z.object({
  cursor: z
    .string()
    .regex(/^[0-9]{15}\|[A-Za-z0-9_-]{1,128}$/, { error: 'not a cursor returned by this API' })
    .optional()
    .describe('The `nextCursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('Page size.'),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` to get the next page; null on the last page.'),
  });

export const problemSchema = z
  .object({
    type: z.string().describe('URI reference identifying the problem type (`/problems/<code>`).'),
    title: z.string(),
    status: z.number().int(),
    code: z.string().describe('Stable machine-readable code.'),
    detail: z.string().describe('What went wrong and what to fix.'),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string(), code: z.string() }))
      .optional()
      .describe('Validation issues, one per offending field.'),
  })
  .loose()
  .describe('RFC 9457 problem details (media type application/problem+json).')
  .meta({ id: 'Problem' });

export const arrayInfoSchema = z.object({
  shape: z.array(z.number().int()),
  dtype: z.string(),
});

/** Problem responses every /v1 route may return. */
export const commonProblems = {
  400: problemSchema,
  401: problemSchema,
  503: problemSchema,
} as const;

/** The responses of an upload route: 201 stored, 200 already stored by this key, or the upload's problems. */
export function uploadResponses<S extends z.ZodTypeAny>(record: S) {
  return {
    200: record,
    201: record,
    413: problemSchema,
    415: problemSchema,
    422: problemSchema,
    ...commonProblems,
  };
}
