/**
 * Where uploads and results live: uploaded bundles (models, datasets, arrays) under content-addressed ids and job
 * results keyed by job id, behind one interface with two implementations, the local directory DATA_DIR (here) and
 * S3-compatible object storage (`s3-artifact-store.ts`), chosen by STORAGE_URL (`create-store.ts`). Callers pass ids
 * and fixed file names; anything a client sent (a multipart filename, a manifest path) is only ever compared, never
 * joined into a path or a key.
 */
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { isSafeArtifactName } from '../contract/artifact-names.js';
import { publishDirectory, writeFileAtomic, type FileContent } from './atomic-write.js';

export type BundleKind = 'models' | 'datasets' | 'arrays';
export const BUNDLE_KINDS: readonly BundleKind[] = ['models', 'datasets', 'arrays'];

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,100}(\.[A-Za-z0-9]{1,10})?$/;

export function checkId(id: string): string {
  if (!ID.test(id)) throw new Error(`invalid storage id ${JSON.stringify(id)}`);
  return id;
}

export function checkName(name: string): string {
  if (!FILE_NAME.test(name)) throw new Error(`invalid storage file name ${JSON.stringify(name)}`);
  return name;
}

/** A result file may be nested (`kfac/0-dense/A.npy`): every segment is a safe file name (see artifact-names.ts). */
export function checkResultName(name: string): string {
  if (!isSafeArtifactName(name)) throw new Error(`invalid storage file name ${JSON.stringify(name)}`);
  return name;
}

/** A file that is not there: the error both stores throw, with Node's `ENOENT` code callers already test for. */
export function notFound(what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${what} not found`), { code: 'ENOENT' });
}

/** A result file opened for streaming. */
export interface OpenedResult {
  stream: Readable;
  size: number;
  mtimeMs: number;
}

/** The storage areas the expiry sweep walks. */
export type StorageArea = BundleKind | 'results' | 'tmp';

export interface ArtifactStore {
  /** Where it stores, for messages and logs: a directory, or s3://bucket/prefix. */
  readonly location: string;
  /** Creates the layout (directories, or the bucket when missing); idempotent. */
  init(): Promise<void>;
  /** True when the storage answers and takes writes (readiness probe). */
  isWritable(): Promise<boolean>;
  /**
   * Publishes a bundle atomically: readers see all its files or none. Returns false when a bundle with this
   * (content-addressed) id was already complete.
   */
  putBundle(
    kind: BundleKind,
    id: string,
    files: ReadonlyArray<readonly [string, FileContent]>,
  ): Promise<boolean>;
  hasBundle(kind: BundleKind, id: string): Promise<boolean>;
  /** @throws an error with code `ENOENT` when the file is not there */
  readBundleFile(kind: BundleKind, id: string, name: string): Promise<Uint8Array>;
  listBundleFiles(kind: BundleKind, id: string): Promise<string[]>;
  removeBundle(kind: BundleKind, id: string): Promise<void>;
  /** Writes one result file whole (a re-run overwrites its own files, so a retry after a crash is harmless). */
  writeResult(jobId: string, name: string, data: Uint8Array): Promise<void>;
  /** Opens a result file for streaming, or returns null when it is gone. */
  openResult(jobId: string, name: string): Promise<OpenedResult | null>;
  removeResults(jobId: string): Promise<void>;
  /** Removes a job's results under `dir/` (a split job's pieces once combined); nothing when there are none. */
  removeResultDir(jobId: string, dir: string): Promise<void>;
  /**
   * Ids (or temporary entries) of an area not written for `minAgeMs`, for the expiry sweep; the age guard keeps
   * the sweep away from a bundle whose metadata is being written right now.
   */
  listOlderThan(area: StorageArea, minAgeMs: number): Promise<string[]>;
  removeTmp(name: string): Promise<void>;
}

/** The local directory DATA_DIR: a bundle is published by renaming a complete temporary directory into place. */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir);
  }

  get location(): string {
    return this.root;
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
    // readFile's own ENOENT error names the path; callers test its code.
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

  /** Writes one result file atomically (a nested name makes its directories). */
  async writeResult(jobId: string, name: string, data: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.resultDir(jobId), checkResultName(name)), data);
  }

  async openResult(jobId: string, name: string): Promise<OpenedResult | null> {
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

  async removeResultDir(jobId: string, dir: string): Promise<void> {
    await rm(join(this.resultDir(jobId), checkResultName(dir)), { recursive: true, force: true });
  }

  async listOlderThan(area: StorageArea, minAgeMs: number): Promise<string[]> {
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
