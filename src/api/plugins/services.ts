/** Decorates the app with its {@link Services} and closes them with the app. */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Services } from '../services.js';

declare module 'fastify' {
  interface FastifyInstance {
    svc: Services;
  }
}

async function services(
  app: FastifyInstance,
  opts: { services: Services; closeWithApp: boolean },
): Promise<void> {
  app.decorate('svc', opts.services);
  if (opts.closeWithApp) app.addHook('onClose', async () => opts.services.close());
}

export default fp(services, { name: 'services' });
