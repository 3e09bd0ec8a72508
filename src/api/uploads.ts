/**
 * Storing checked uploads (prepared off the event loop by `upload-tasks.ts`) as bundles with a record. Bundles are
 * content-addressed per owner: the same bytes from the same API key give the same id (200 on a repeat), while the
 * same bytes from another key give another id, so a 200-vs-201 never tells one tenant what another uploaded.
 */
import { createHash } from 'node:crypto';
import type { RecordKind } from '../storage/metadata-store.js';
import type { Services } from './services.js';
import type { ArrayRecord } from './schemas/arrays.js';
import type { DatasetRecord } from './schemas/datasets.js';
import type { ModelRecord } from './schemas/models.js';
import type { ArrayInfo, DatasetInfo, ModelInfo, PreparedBundle } from './upload-tasks.js';

/** Every stored record carries its owner (the principal that created it). */
export interface Owned {
  id: string;
  owner?: string;
  createdAt: string;
}

/** Ids are 128 bits of sha256(owner, content hash): plenty against accidental collisions. */
function ownedId(owner: string, sha256: string): string {
  return createHash('sha256').update(`${owner}\n${sha256}`).digest('hex').slice(0, 32);
}

export interface Stored<T> {
  record: T;
  created: boolean;
}

/**
 * Stores a prepared bundle and its record unless this owner already stored the same content, in which case the
 * existing record is returned (and its expiry extended).
 */
async function storeOnce<Info, T extends Owned>(
  svc: Services,
  kind: Exclude<RecordKind, 'jobs'>,
  owner: string,
  prepared: PreparedBundle<Info>,
): Promise<Stored<T>> {
  const id = ownedId(owner, prepared.sha256);
  const ttl = svc.config.uploadTtlSeconds;
  const existing = await svc.meta.get<T>(kind, id);
  if (existing && (await svc.store.hasBundle(kind, id))) {
    await svc.meta.touch(kind, id, ttl);
    return { record: existing, created: false };
  }
  await svc.store.putBundle(kind, id, prepared.files);
  const record = {
    id,
    sha256: prepared.sha256,
    ...prepared.info,
    createdAt: new Date().toISOString(),
    owner,
  } as unknown as T;
  await svc.meta.put(kind, record, ttl);
  return { record, created: true };
}

export const storeModel = (svc: Services, owner: string, prepared: PreparedBundle<ModelInfo>) =>
  storeOnce<ModelInfo, ModelRecord & Owned>(svc, 'models', owner, prepared);

export const storeDataset = (svc: Services, owner: string, prepared: PreparedBundle<DatasetInfo>) =>
  storeOnce<DatasetInfo, DatasetRecord & Owned>(svc, 'datasets', owner, prepared);

export const storeArray = (svc: Services, owner: string, prepared: PreparedBundle<ArrayInfo>) =>
  storeOnce<ArrayInfo, ArrayRecord & Owned>(svc, 'arrays', owner, prepared);

/** A record as its owner sees it; anyone else gets null (a 404, exactly as for an unknown id). */
export async function getOwned<T extends Owned>(
  svc: Services,
  kind: RecordKind,
  id: string,
  principal: string,
): Promise<T | null> {
  const record = await svc.meta.get<T>(kind, id);
  return record && isOwnedBy(record, principal) ? record : null;
}

/** Records from before ownership existed belong to the anonymous tenant. */
export function isOwnedBy(record: Owned, principal: string): boolean {
  return (record.owner ?? 'anonymous') === principal;
}
