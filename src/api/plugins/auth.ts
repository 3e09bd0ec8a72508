/**
 * API keys: when API_KEYS is set, every /v1 route needs `Authorization: Bearer <key>`. Keys are compared as
 * sha256 digests in constant time, and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A non-secret identity for the caller (a digest prefix of its key), scoping Idempotency-Keys. */
    principal: string;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface AuthOptions {
  apiKeys: readonly string[];
}

async function auth(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  const keys = opts.apiKeys.map(digest);
  app.decorateRequest('principal', 'anonymous');
  if (keys.length === 0) return;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!request.url.startsWith('/v1/') && request.url !== '/v1') return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const given = m ? digest(m[1]) : null;
    if (!given || !keys.some((k) => timingSafeEqual(k, given))) {
      throw new ProblemError(
        401,
        'unauthorized',
        m ? 'the API key is not valid' : 'this route needs an API key: send "Authorization: Bearer <key>"',
        {},
        { 'www-authenticate': 'Bearer realm="hessian"' },
      );
    }
    request.principal = given.subarray(0, 8).toString('hex');
  });
}

export default fp(auth, { name: 'auth' });
