/**
 * The read side shared by every uploaded collection (models, datasets, arrays): a paginated list, get by id, and
 * delete (record and files), each limited to the caller's own uploads (anyone else's id is a 404). Upload routes
 * differ per collection and stay in their own files.
 */
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BundleKind } from '../../../storage/artifact-store.js';
import { notFound } from '../../problem.js';
import { getOwned, type Owned } from '../../uploads.js';
import {
  commonProblems,
  idParamsSchema,
  pageOf,
  paginationQuerySchema,
  problemSchema,
} from '../../schemas/common.js';

type App = Parameters<FastifyPluginAsyncZod>[0];

export interface UploadCollection {
  kind: BundleKind;
  /** Singular noun for summaries and 404s: "model", "dataset", "array". */
  noun: string;
  /** "a" or "an". */
  article: string;
  /** The record's response schema (its OpenAPI component). */
  schema: z.ZodTypeAny;
  deleteNote?: string;
}

export function registerCollectionReads(
  app: App,
  { kind, noun, article, schema, deleteNote }: UploadCollection,
): void {
  const svc = app.svc;

  app.get(
    `/${kind}`,
    {
      schema: {
        tags: [kind],
        summary: `List ${kind}, newest first`,
        querystring: paginationQuerySchema,
        response: { 200: pageOf(schema), ...commonProblems },
      },
    },
    async (request) => svc.meta.list<Owned>(kind, { ...request.query, owner: request.principal }),
  );

  app.get(
    `/${kind}/:id`,
    {
      schema: {
        tags: [kind],
        summary: `Get ${article} ${noun}`,
        params: idParamsSchema,
        response: { 200: schema, 404: problemSchema, ...commonProblems },
      },
    },
    async (request) => {
      const record = await getOwned(svc, kind, request.params.id, request.principal);
      if (!record) throw notFound(noun, request.params.id);
      return record;
    },
  );

  app.delete(
    `/${kind}/:id`,
    {
      schema: {
        tags: [kind],
        summary: `Delete ${article} ${noun}${deleteNote ? ` (${deleteNote})` : ''}`,
        params: idParamsSchema,
        response: { 204: z.null().describe('Deleted.'), 404: problemSchema, ...commonProblems },
      },
    },
    async (request, reply) => {
      const record = await getOwned(svc, kind, request.params.id, request.principal);
      if (!record) throw notFound(noun, request.params.id);
      await svc.meta.delete(kind, record);
      await svc.store.removeBundle(kind, record.id);
      return reply.code(204).send(null);
    },
  );
}

/** Answers an upload: 201 and its Location when stored now, 200 when the caller had already stored the same bytes. */
export function replyStored<T extends { id: string }>(
  reply: FastifyReply,
  kind: BundleKind,
  { record, created }: { record: T; created: boolean },
): T {
  void reply.code(created ? 201 : 200).header('location', `/v1/${kind}/${record.id}`);
  return record;
}
