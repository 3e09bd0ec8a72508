/**
 * Expiry of old artifacts: metadata records expire in Redis (TTL); this sweep removes the files whose record is
 * gone, results of jobs that no longer exist, and temporary files left by crashes.
 */
import type { Logger } from 'pino';
import { BUNDLE_KINDS, type ArtifactStore } from './artifact-store.js';
import type { MetadataStore } from './metadata-store.js';

/** Files younger than this are never swept (their record may be being written). */
const MIN_AGE_MS = 10 * 60 * 1000;

export async function sweepOnce(
  store: ArtifactStore,
  meta: MetadataStore,
  minAgeMs = MIN_AGE_MS,
): Promise<number> {
  let removed = 0;
  for (const kind of BUNDLE_KINDS) {
    await meta.pruneIndex(kind);
    for (const id of await store.listOlderThan(kind, minAgeMs)) {
      if (!(await meta.exists(kind, id))) {
        await store.removeBundle(kind, id);
        removed++;
      }
    }
  }
  await meta.pruneIndex('jobs');
  for (const jobId of await store.listOlderThan('results', minAgeMs)) {
    if (!(await meta.exists('jobs', jobId))) {
      await store.removeResults(jobId);
      removed++;
    }
  }
  for (const name of await store.listOlderThan('tmp', minAgeMs)) {
    await store.removeTmp(name).catch(() => undefined);
    removed++;
  }
  return removed;
}

/** Sweeps now and then every `intervalMs`; returns a stop function. Errors (e.g. Redis down) wait for next time. */
export function startSweeper(
  store: ArtifactStore,
  meta: MetadataStore,
  logger: Logger,
  intervalMs = 15 * 60 * 1000,
) {
  const run = () =>
    sweepOnce(store, meta)
      .then((n) => n > 0 && logger.info({ removed: n }, 'expired artifacts removed'))
      .catch((err: Error) => logger.warn({ err: err.message }, 'artifact sweep failed; will retry'));
  const first = setTimeout(run, 5000);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
