/** Atomic file and directory publication: readers see either nothing or the whole thing, never a partial file. */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A temporary name next to `target`, so the final rename stays on one filesystem (rename is atomic there). */
function tempNameFor(target: string): string {
  return `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Writes `data` to `target` through a temporary file, fsync and rename. A crash leaves at worst a stray
 * `*.tmp` file (swept later), never a truncated `target`.
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempNameFor(target);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Publishes a set of files as one directory: they are written into a private temporary directory under `tmpRoot`
 * which is then renamed to `target`. If `target` already exists (the same content-addressed bundle uploaded
 * concurrently) the new copy is discarded and `false` returned.
 */
/** A file's bytes, whole or as consecutive pieces. */
export type FileContent = Uint8Array | readonly Uint8Array[];

export function piecesOf(content: FileContent): readonly Uint8Array[] {
  return content instanceof Uint8Array ? [content] : content;
}

export async function publishDirectory(
  tmpRoot: string,
  target: string,
  files: ReadonlyArray<readonly [name: string, data: FileContent]>,
): Promise<boolean> {
  await mkdir(tmpRoot, { recursive: true });
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(tmpRoot, `${process.pid}.${randomBytes(8).toString('hex')}`);
  await mkdir(tmp);
  try {
    for (const [name, data] of files) {
      const fh = await open(join(tmp, name), 'w');
      try {
        // Written piece by piece (e.g. a .npy header, then a view of the array's data): never concatenated.
        for (const piece of piecesOf(data)) await fh.write(piece);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    try {
      await rename(tmp, target);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
      throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
