/**
 * A real S3 API server for tests: s3rver (an implementation of the S3 REST API over a directory) on a free port of
 * 127.0.0.1, with its own temporary directory, stopped and removed by `close()`. Tests talk to it with the real
 * `@aws-sdk/client-s3`, exactly as the service talks to S3 or MinIO; nothing is mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface S3Server {
  endpoint: string;
  /** The environment that points the service at `s3://<bucket>/<prefix>` on this server. */
  env(bucket: string, prefix?: string): Record<string, string>;
  close(): Promise<void>;
}

/** s3rver accepts any key pair whose id it knows; these are its defaults. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startS3Server(): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'hessian-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    env: (bucket, prefix = '') => ({
      STORAGE_URL: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    }),
    close: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
