/**
 * The results pages: `GET /jobs` (the caller's jobs) and `GET /jobs/{id}` (one job: live progress, request,
 * verification, summary, artifacts and plots). Each is a static HTML shell plus one vanilla JS module and one
 * stylesheet from `static/`, with no job data in them: the script reads everything through /v1 with the caller's API
 * key, which it asks for only when /v1 answers 401. So the shells and assets are public (no key), like /docs.
 *
 * They get their own Content-Security-Policy instead of the API's `default-src 'none'`: scripts, styles, images and
 * fetches from this origin only (plus data: images, the heat map), no inline script or style, no framing.
 *
 * The files are read once at start-up, from `static/` next to this module: src/api/pages/static from source, and
 * dist/api/pages/static once built (`npm run build` copies them, as tsc copies only TypeScript's output). A build
 * without them fails at start rather than serving an API with its pages missing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idParamsSchema } from '../schemas/common.js';

export const PAGES_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Where the page files are: beside this module. */
const CANDIDATES = [new URL('./static/', import.meta.url)];

const FILES = {
  'jobs.html': 'text/html; charset=utf-8',
  'job.html': 'text/html; charset=utf-8',
  'pages.js': 'text/javascript; charset=utf-8',
  'pages.css': 'text/css; charset=utf-8',
} as const;
type FileName = keyof typeof FILES;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The directory holding every page file, or null. */
export function findStaticDir(candidates: readonly URL[] = CANDIDATES): string | null {
  for (const url of candidates) {
    const dir = fileURLToPath(url);
    if (Object.keys(FILES).every((f) => existsSync(`${dir}${f}`))) return dir;
  }
  return null;
}

function loadAssets(dir: string): Record<FileName, Asset> {
  const out = {} as Record<FileName, Asset>;
  for (const [name, type] of Object.entries(FILES) as [FileName, string][]) {
    const body = readFileSync(`${dir}${name}`);
    out[name] = { body, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
  }
  return out;
}

const pages: FastifyPluginAsyncZod = async (app) => {
  const dir = findStaticDir();
  if (!dir) {
    throw new Error(
      `the results pages' files are missing from ${CANDIDATES.map((u) => fileURLToPath(u)).join(', ')}: build with npm run build, which copies src/api/pages/static`,
    );
  }
  const assets = loadAssets(dir);

  const send = (asset: Asset, request: FastifyRequest, reply: FastifyReply) => {
    // Revalidated on every load (cheap: 304), so a new version of the service is picked up at once.
    void reply
      .header('content-security-policy', PAGES_CSP)
      .header('cache-control', 'no-cache')
      .header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };
  // Public (the shells carry no data) and left out of the OpenAPI document (they are not API operations).
  const options = { schema: { hide: true }, config: { auth: 'public' as const } };

  app.get('/jobs', options, async (request, reply) => send(assets['jobs.html'], request, reply));
  app.get(
    '/jobs/:id',
    { ...options, schema: { hide: true, params: idParamsSchema } },
    async (request, reply) => send(assets['job.html'], request, reply),
  );
  app.get('/pages/pages.js', options, async (request, reply) => send(assets['pages.js'], request, reply));
  app.get('/pages/pages.css', options, async (request, reply) => send(assets['pages.css'], request, reply));
};

export default pages;
