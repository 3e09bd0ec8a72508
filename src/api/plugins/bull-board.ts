/**
 * The BullMQ dashboard (bull-board) under /admin/queues, for operators: queue depth, running and failed jobs, their
 * logs and errors. When API_KEYS is set it needs one of the keys, as `Authorization: Bearer <key>` (scripts) or as
 * the password of HTTP Basic auth with any user name (browsers prompt for it).
 *
 * Actions taken there (retry, remove, clean) act on BullMQ directly, not through the API's job records.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, ProblemError } from '../problem.js';
import type { KeyRing } from './auth.js';

export const BULL_BOARD_PATH = '/admin/queues';

export interface BullBoardOptions {
  queue: Queue;
  keyRing: KeyRing;
}

/** The key a request presents: a Bearer token, or the password of Basic credentials. */
function presentedKey(header: string | undefined): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/** Registers the dashboard; not wrapped in fastify-plugin, so its auth hook stays inside its own prefix. */
export default async function bullBoard(app: FastifyInstance, opts: BullBoardOptions): Promise<void> {
  const serverAdapter = new FastifyAdapter().setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(opts.queue)],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'hessian jobs' } },
  });
  const ring = opts.keyRing;

  await app.register(
    async (scoped) => {
      if (ring.enabled) {
        // Answered here rather than thrown: bull-board installs its own error handler for its routes.
        scoped.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
          if (ring.principalOf(presentedKey(request.headers.authorization)) !== null) return;
          const problem = new ProblemError(
            401,
            'unauthorized',
            'the queue dashboard needs an API key: "Authorization: Bearer <key>", or any user name and the key as password',
          ).toProblem(request.url.split('?')[0]);
          return reply
            .code(401)
            .header('www-authenticate', 'Basic realm="hessian admin", charset="UTF-8"')
            .type(PROBLEM_CONTENT_TYPE)
            .send(problem);
        });
      }
      await scoped.register(serverAdapter.registerPlugin());
    },
    { prefix: BULL_BOARD_PATH },
  );
}
