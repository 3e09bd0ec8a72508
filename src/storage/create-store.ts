/** The ArtifactStore a StorageSpec names: the local directory, or the S3 bucket. */
import { LocalArtifactStore, type ArtifactStore } from './artifact-store.js';
import { S3ArtifactStore } from './s3-artifact-store.js';
import type { StorageSpec } from './storage-spec.js';

export type { StorageSpec };

export function createArtifactStore(spec: StorageSpec): ArtifactStore {
  if (spec.kind === 'local') return new LocalArtifactStore(spec.dir);
  const { kind: _kind, ...location } = spec;
  return new S3ArtifactStore(location);
}
