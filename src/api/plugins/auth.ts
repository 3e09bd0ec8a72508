/**
 * API keys and who owns what. When API_KEYS is set, every route needs `Authorization: Bearer <key>` unless it is
 * on the short public list below (probes, metrics, the API documentation); the queue dashboard does its own check.
 *
 * The decision is taken on the route as Fastify routed it (`request.routeOptions.config.auth`, stamped on each
 * route when it is registered), never on the raw URL: `/%761/jobs` is routed to `/v1/jobs` and so needs a key like
 * it. Unknown routes need a key too (default deny), so probing paths without a key reveals nothing.
 *
 * Keys are compared as sha256 digests in constant time and never logged. The caller's `principal` (a digest
 * prefix of its key, or `anonymous` without API_KEYS) owns the uploads and jobs it creates.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../problem.js';

/** How a route is protected. */
export type AuthPolicy = 'key' | 'public' | 'dashboard';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Stamped by the auth plugin on every route; `key` unless the route is on the public list. */
    auth?: AuthPolicy;
  }
  interface FastifyRequest {
    /** A non-secret identity for the caller (a digest prefix of its key), owning its uploads and jobs. */
    principal: string;
  }
}

/** The principal of every caller when API_KEYS is unset (one shared tenant). */
export const ANONYMOUS = 'anonymous';

/** Routes anyone may call, by their registered path (exact, or a prefix ending in `/`). */
const PUBLIC_ROUTES = ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/'];
const DASHBOARD_PREFIX = '/admin/queues';

/** The policy of a route, from the path it was registered under. */
export function policyOf(routePath: string): AuthPolicy {
  if (routePath === DASHBOARD_PREFIX || routePath.startsWith(`${DASHBOARD_PREFIX}/`)) return 'dashboard';
  const isPublic = PUBLIC_ROUTES.some((p) => (p.endsWith('/') ? routePath.startsWith(p) : routePath === p));
  return isPublic ? 'public' : 'key';
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The bearer token of a request, if it sent one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length > 1024) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

export interface AuthOptions {
  keyRing: KeyRing;
}

/** Checks keys; shared by the auth hook and the rate limiter (which must tell valid keys from invalid ones). */
export class KeyRing {
  private readonly keys: Buffer[];

  constructor(apiKeys: readonly string[]) {
    this.keys = apiKeys.map(digest);
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The principal of a valid key, or null. */
  principalOf(token: string | undefined): string | null {
    if (token === undefined) return null;
    const given = digest(token);
    let valid = false;
    // Compare against every key so the time taken does not tell which one matched.
    for (const k of this.keys) valid = timingSafeEqual(k, given) || valid;
    return valid ? given.subarray(0, 8).toString('hex') : null;
  }
}

async function auth(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  const ring = opts.keyRing;
  app.decorateRequest('principal', ANONYMOUS);
  app.decorate('keyRing', ring);

  // Unknown routes are denied too (default deny): without a valid key, probing paths answers 401, never 404.
  app.decorate('requireKey', async (request: FastifyRequest) => {
    if (ring.enabled) await requireKey(request);
  });

  const requireKey = async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    const principal = ring.principalOf(token);
    if (principal === null) {
      throw new ProblemError(
        401,
        'unauthorized',
        token !== undefined
          ? 'the API key is not valid'
          : 'this route needs an API key: send "Authorization: Bearer <key>"',
        {},
        { 'www-authenticate': 'Bearer realm="hessian"' },
      );
    }
    request.principal = principal;
  };

  // A route-level hook, added when each route is registered: it runs after the rate limiter's (registered
  // first), so requests with wrong keys are counted and limited too.
  app.addHook('onRoute', (route: RouteOptions) => {
    const policy = route.config?.auth ?? policyOf(route.url ?? '');
    route.config = { ...(route.config ?? {}), auth: policy };
    if (policy !== 'key' || !ring.enabled) return;
    const existing = route.onRequest;
    route.onRequest = [
      ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]),
      requireKey,
    ];
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    keyRing: KeyRing;
    /** The API-key check as a hook (a no-op without API_KEYS), for handlers outside the routes (404s). */
    requireKey: (request: FastifyRequest) => Promise<void>;
  }
}

export default fp(auth, { name: 'auth' });
