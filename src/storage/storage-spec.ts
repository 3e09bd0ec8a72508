/**
 * Where uploads and results live, from the configuration: the local directory DATA_DIR unless STORAGE_URL names an
 * S3 bucket. Plain data, so it crosses into worker threads and child processes as is; nothing here loads the S3
 * client (see `create-store.ts`).
 */
import type { S3Location } from './s3-artifact-store.js';

export type StorageSpec = { kind: 'local'; dir: string } | ({ kind: 's3' } & S3Location);

/**
 * Reads STORAGE_URL (`s3://bucket/prefix`; empty for DATA_DIR) with the usual S3 variables: the endpoint
 * (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL), AWS_REGION, and S3_FORCE_PATH_STYLE (default: on when an endpoint
 * is given, as MinIO needs). Returns a message instead of a spec when the URL is not one.
 */
export function parseStorage(env: {
  dataDir: string;
  storageUrl: string;
  endpoint: string;
  region: string;
  forcePathStyle: boolean | undefined;
  accessKeyId?: string;
  secretAccessKey?: string;
}): StorageSpec | string {
  if (env.storageUrl === '') return { kind: 'local', dir: env.dataDir };
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(env.storageUrl);
  if (!match) return 'must be s3://<bucket>[/<prefix>] with a valid bucket name (3–63 of a-z, 0-9, . and -)';
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._/-]*$/.test(prefix) || prefix.split('/').some((s) => s === '..' || s === '.')) {
    return 'its prefix may hold only letters, digits, ".", "_", "-" and "/" (no "." or ".." segments)';
  }
  return {
    kind: 's3',
    bucket: match[1],
    prefix,
    ...(env.endpoint && { endpoint: env.endpoint }),
    region: env.region,
    forcePathStyle: env.forcePathStyle ?? env.endpoint !== '',
    ...(env.accessKeyId &&
      env.secretAccessKey && {
        credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
      }),
  };
}
