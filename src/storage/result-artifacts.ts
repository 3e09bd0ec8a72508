/**
 * A computation's arrays as `.npy` artifacts, written one by one, with the metadata the CLI's result.json and the
 * API's job view both show (one shape for both): name, shape, dtype, size and sha256 (the download's ETag).
 */
import { createHash } from 'node:crypto';
import { isSafeArtifactName } from '../contract/artifact-names.js';
import { encodeNpy } from '../contract/data/npy.js';
import type { ArtifactInfo } from '../contract/job.js';
import type { Float32NdArray } from '../contract/ndarray.js';

export type { ArtifactInfo };

/**
 * Encodes and writes each array, in order; `afterEach` runs after every write (the worker's fault-injection point).
 * Names may be nested (`kfac/0-dense/A.npy`, written into subdirectories) but must be safe paths
 * (`isSafeArtifactName`): no "..", absolute paths, backslashes or control characters.
 * @returns the artifacts' metadata, in the same order.
 * @throws Error for an unsafe name, before anything is written.
 */
export async function writeArtifacts(
  arrays: Record<string, Float32NdArray>,
  write: (name: string, bytes: Uint8Array) => Promise<void>,
  afterEach?: (index: number) => Promise<void>,
): Promise<ArtifactInfo[]> {
  const artifacts: ArtifactInfo[] = [];
  const unsafe = Object.keys(arrays).find((name) => !isSafeArtifactName(name));
  // Names become paths under the output directory: refuse before writing anything.
  if (unsafe !== undefined) throw new Error(`unsafe artifact name ${JSON.stringify(unsafe)}`);
  for (const [name, array] of Object.entries(arrays)) {
    const bytes = encodeNpy(array);
    await write(name, bytes);
    artifacts.push({
      name,
      shape: array.shape,
      dtype: 'float32',
      bytes: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    await afterEach?.(artifacts.length - 1);
  }
  return artifacts;
}
