/**
 * The API's collaborators, built once from the config and shared by the routes: Redis, the artifact store, the
 * metadata store and the job producer. Tests build the same thing (with their own queue prefix and data dir).
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/env.js';
import { JobProducer } from '../queue/producer.js';
import { createApiRedis } from '../queue/redis.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import { createArtifactStore } from '../storage/create-store.js';
import { MetadataStore } from '../storage/metadata-store.js';

export interface Services {
  config: Readonly<Config>;
  redis: Redis;
  store: ArtifactStore;
  meta: MetadataStore;
  jobs: JobProducer;
  close(): Promise<void>;
}

export async function createServices(config: Readonly<Config>): Promise<Services> {
  const redis = createApiRedis(config.redisUrl);
  // Reconnection is automatic; errors are reported per request as 503s, not as crashes.
  redis.on('error', () => undefined);
  // Give Redis a moment so the first requests do not race the connection; if it is down, start anyway (503s).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const store = createArtifactStore(config.storage);
  await store.init();
  const meta = new MetadataStore(redis, config.queuePrefix);
  const jobs = new JobProducer(redis, meta, config);
  return {
    config,
    redis,
    store,
    meta,
    jobs,
    async close() {
      await jobs.close().catch(() => undefined);
      redis.disconnect();
    },
  };
}
