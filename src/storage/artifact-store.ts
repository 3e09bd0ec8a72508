/**
 * Files under DATA_DIR: uploaded bundles (models, datasets, arrays) in content-addressed directories and job results
 * keyed by job id. Callers pass ids and fixed file names; anything a client sent (a multipart filename, a manifest
 * path) is only ever compared, never joined into a path.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { access, constants, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isSafeArtifactName } from '../contract/artifact-names.js';
import { publishDirectory, writeFileAtomic, type FileContent } from './atomic-write.js';

export type BundleKind = 'models' | 'datasets' | 'arrays';
export const BUNDLE_KINDS: readonly BundleKind[] = ['models', 'datasets', 'arrays'];

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,100}(\.[A-Za-z0-9]{1,10})?$/;

function checkId(id: string): string {
  if (!ID.test(id)) throw new Error(`invalid storage id ${JSON.stringify(id)}`);
  return id;
}

function checkName(name: string): string {
  if (!FILE_NAME.test(name)) throw new Error(`invalid storage file name ${JSON.stringify(name)}`);
  return name;
}

/** A result file may be nested (`kfac/0-dense/A.npy`): every segment is a safe file name (see artifact-names.ts). */
function checkResultName(name: string): string {
  if (!isSafeArtifactName(name)) throw new Error(`invalid storage file name ${JSON.stringify(name)}`);
  return name;
}

export class ArtifactStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir);
  }

  /** Creates the directory layout; idempotent. */
  async init(): Promise<void> {
    for (const dir of [...BUNDLE_KINDS, 'results', 'tmp'])
      await mkdir(join(this.root, dir), { recursive: true });
  }

  /** True when DATA_DIR exists and is writable (readiness probe). */
  async isWritable(): Promise<boolean> {
    try {
      await access(join(this.root, 'tmp'), constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  bundleDir(kind: BundleKind, id: string): string {
    return join(this.root, kind, checkId(id));
  }

  /** Publishes a bundle atomically; returns false when an identical bundle (same id) was already there. */
  async putBundle(
    kind: BundleKind,
    id: string,
    files: ReadonlyArray<readonly [string, FileContent]>,
  ): Promise<boolean> {
    for (const [name] of files) checkName(name);
    return publishDirectory(join(this.root, 'tmp'), this.bundleDir(kind, id), files);
  }

  async hasBundle(kind: BundleKind, id: string): Promise<boolean> {
    try {
      await stat(this.bundleDir(kind, id));
      return true;
    } catch {
      return false;
    }
  }

  async readBundleFile(kind: BundleKind, id: string, name: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(join(this.bundleDir(kind, id), checkName(name))));
  }

  async listBundleFiles(kind: BundleKind, id: string): Promise<string[]> {
    return readdir(this.bundleDir(kind, id));
  }

  async removeBundle(kind: BundleKind, id: string): Promise<void> {
    await rm(this.bundleDir(kind, id), { recursive: true, force: true });
  }

  resultDir(jobId: string): string {
    return join(this.root, 'results', checkId(jobId));
  }

  /**
   * Writes one result file (a nested name makes its directories); re-running a job overwrites its own files, so a
   * retry after a crash is harmless.
   */
  async writeResult(jobId: string, name: string, data: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.resultDir(jobId), checkResultName(name)), data);
  }

  /** Opens a result file for streaming, or returns null when it is gone. */
  async openResult(
    jobId: string,
    name: string,
  ): Promise<{ stream: ReadStream; size: number; mtimeMs: number } | null> {
    const path = join(this.resultDir(jobId), checkResultName(name));
    try {
      const s = await stat(path);
      return { stream: createReadStream(path), size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      return null;
    }
  }

  async removeResults(jobId: string): Promise<void> {
    await rm(this.resultDir(jobId), { recursive: true, force: true });
  }

  /**
   * Entries of a storage area older than `minAgeMs`, for the expiry sweep. The age guard keeps the sweep away from
   * a bundle whose metadata is being written right now.
   */
  async listOlderThan(area: BundleKind | 'results' | 'tmp', minAgeMs: number): Promise<string[]> {
    const dir = join(this.root, area);
    const now = Date.now();
    const out: string[] = [];
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return out;
    }
    for (const name of names) {
      try {
        const s = await stat(join(dir, name));
        if (now - s.mtimeMs >= minAgeMs) out.push(name);
      } catch {
        // removed concurrently
      }
    }
    return out;
  }

  async removeTmp(name: string): Promise<void> {
    if (!/^[0-9]+\.[0-9a-f]+$/.test(name)) throw new Error(`invalid temporary entry ${JSON.stringify(name)}`);
    await rm(join(this.root, 'tmp', name), { recursive: true, force: true });
  }
}
