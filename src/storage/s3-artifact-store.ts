/**
 * S3-compatible object storage (AWS S3, MinIO, ...) behind the ArtifactStore interface, so that the API and workers
 * on several hosts share uploads and results through one bucket instead of one mounted directory.
 *
 * Layout under `s3://<bucket>/<prefix>/`: `<kind>/<id>/<file>` per bundle file plus `<kind>/<id>/.complete`, and
 * `results/<job id>/<name>` per result file. A PUT is atomic per object (a reader sees the old object, the new one,
 * or none, never part of one); a bundle is several objects, so its `.complete` marker is written last and a bundle
 * exists (`hasBundle`) only once the marker does. An upload that died half-way leaves objects without a marker,
 * which nothing reads (their record is written after `putBundle` returns) and the expiry sweep removes (no record).
 * There is no staging area: `tmp` is always empty.
 */
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { piecesOf, type FileContent } from './atomic-write.js';
import {
  checkId,
  checkName,
  checkResultName,
  notFound,
  type ArtifactStore,
  type BundleKind,
  type OpenedResult,
  type StorageArea,
} from './artifact-store.js';

/** Where the bucket is and how to reach it (credentials come from the SDK's usual chain: AWS_ACCESS_KEY_ID, ...). */
export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slashes ('' for the bucket's root). */
  prefix: string;
  /** An S3-compatible endpoint (MinIO, a local test server); AWS when absent. */
  endpoint?: string;
  region: string;
  /** Path-style addressing (http://host/bucket/key), which MinIO and test servers need. */
  forcePathStyle: boolean;
  /** From AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY when both are set; else the SDK's chain (roles, profiles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

const COMPLETE = '.complete';

/** The SDK's "not there" answers: NoSuchKey for GET, NotFound (404) for HEAD, NoSuchBucket. */
function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly base: string;

  constructor(
    readonly s3: S3Location,
    clientConfig: Partial<S3ClientConfig> = {},
  ) {
    this.location = `s3://${s3.bucket}/${s3.prefix}`;
    this.base = s3.prefix ? `${s3.prefix}/` : '';
    this.client = new S3Client({
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      // Checksums only where the API requires them: S3-compatible servers do not all know the newer ones.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(s3.endpoint && { endpoint: s3.endpoint }),
      ...(s3.credentials && { credentials: s3.credentials }),
      ...clientConfig,
    });
  }

  private bundleKey(kind: BundleKind, id: string, name: string): string {
    return `${this.base}${kind}/${checkId(id)}/${name}`;
  }

  private resultKey(jobId: string, name: string): string {
    return `${this.base}results/${checkId(jobId)}/${checkResultName(name)}`;
  }

  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.s3.bucket }));
    } catch (err) {
      if (!isMissing(err)) throw err;
      // A fresh MinIO or test server: create the bucket (AWS users create theirs with their own policy).
      await this.client.send(new CreateBucketCommand({ Bucket: this.s3.bucket }));
    }
  }

  async isWritable(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.s3.bucket }));
      return true;
    } catch {
      return false;
    }
  }

  async putBundle(
    kind: BundleKind,
    id: string,
    files: ReadonlyArray<readonly [string, FileContent]>,
  ): Promise<boolean> {
    for (const [name] of files) checkName(name);
    if (await this.hasBundle(kind, id)) return false;
    for (const [name, content] of files) {
      // One object per file, its pieces (e.g. a .npy header, then a view of the data) streamed, never concatenated.
      await this.put(this.bundleKey(kind, id, name), piecesOf(content));
    }
    await this.put(this.bundleKey(kind, id, COMPLETE), new Uint8Array(0));
    return true;
  }

  async hasBundle(kind: BundleKind, id: string): Promise<boolean> {
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.s3.bucket, Key: this.bundleKey(kind, id, COMPLETE) }),
      );
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async readBundleFile(kind: BundleKind, id: string, name: string): Promise<Uint8Array> {
    const key = this.bundleKey(kind, id, checkName(name));
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key }));
      return await got.Body!.transformToByteArray();
    } catch (err) {
      if (isMissing(err)) throw notFound(`${kind}/${id}/${name}`);
      throw err;
    }
  }

  async listBundleFiles(kind: BundleKind, id: string): Promise<string[]> {
    const prefix = this.bundleKey(kind, id, '');
    const keys = await this.listKeys(prefix);
    return keys.map(({ key }) => key.slice(prefix.length)).filter((name) => name !== COMPLETE);
  }

  async removeBundle(kind: BundleKind, id: string): Promise<void> {
    // The marker first: from then on the bundle does not exist, whatever else is still being deleted.
    const prefix = this.bundleKey(kind, id, '');
    await this.deleteKeys([`${prefix}${COMPLETE}`]);
    await this.deleteKeys((await this.listKeys(prefix)).map(({ key }) => key));
  }

  async writeResult(jobId: string, name: string, data: Uint8Array): Promise<void> {
    await this.put(this.resultKey(jobId, name), data);
  }

  async openResult(jobId: string, name: string): Promise<OpenedResult | null> {
    const key = this.resultKey(jobId, name);
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key }));
      return {
        stream: got.Body as Readable,
        size: got.ContentLength ?? 0,
        mtimeMs: got.LastModified?.getTime() ?? 0,
      };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async removeResults(jobId: string): Promise<void> {
    const prefix = `${this.base}results/${checkId(jobId)}/`;
    await this.deleteKeys((await this.listKeys(prefix)).map(({ key }) => key));
  }

  async removeResultDir(jobId: string, dir: string): Promise<void> {
    const prefix = `${this.resultKey(jobId, dir)}/`;
    await this.deleteKeys((await this.listKeys(prefix)).map(({ key }) => key));
  }

  async listOlderThan(area: StorageArea, minAgeMs: number): Promise<string[]> {
    if (area === 'tmp') return [];
    const prefix = `${this.base}${area}/`;
    // An id's age is that of its newest object: a bundle still being written, or a result file just added, is young.
    const newest = new Map<string, number>();
    for (const { key, modified } of await this.listKeys(prefix)) {
      const id = key.slice(prefix.length).split('/')[0];
      newest.set(id, Math.max(newest.get(id) ?? 0, modified));
    }
    const now = Date.now();
    return [...newest].filter(([, t]) => now - t >= minAgeMs).map(([id]) => id);
  }

  async removeTmp(name: string): Promise<void> {
    if (!/^[0-9]+\.[0-9a-f]+$/.test(name)) throw new Error(`invalid temporary entry ${JSON.stringify(name)}`);
  }

  /** Stops the client's sockets (tests, shutdown). */
  destroy(): void {
    this.client.destroy();
  }

  private async put(key: string, body: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const pieces = body instanceof Uint8Array ? [body] : body;
    const length = pieces.reduce((n, p) => n + p.byteLength, 0);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.s3.bucket,
        Key: key,
        Body: pieces.length === 1 ? pieces[0] : Readable.from(pieces),
        ContentLength: length,
      }),
    );
  }

  private async listKeys(prefix: string): Promise<{ key: string; modified: number }[]> {
    const out: { key: string; modified: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.s3.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key) out.push({ key: o.Key, modified: o.LastModified?.getTime() ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.s3.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }
}
