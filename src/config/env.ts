/**
 * The service's configuration, read once from the environment and validated by zod, shared by the API, the
 * workers and the CLI launchers. A bad value stops start-up with one readable line naming the variable.
 */
import { z } from 'zod';
import { parseStorage, type StorageSpec } from '../storage/storage-spec.js';

const MiB = 1024 * 1024;

/** Reads an integer from an env string; empty strings count as unset so `FOO=` falls back to the default. */
const int = (min: number, max: number, def: number) =>
  z.preprocess(
    (v) => (v === '' || v === undefined ? undefined : Number(v)),
    z
      .number({ error: 'must be a number' })
      .int({ error: 'must be an integer' })
      .min(min, { error: `must be >= ${min}` })
      .max(max, { error: `must be <= ${max}` })
      .default(def),
  );

const str = (def: string) => z.preprocess((v) => (v === '' ? undefined : v), z.string().default(def));

export const envSchema = z.object({
  /** @defaultValue 3000 */
  PORT: int(0, 65535, 3000).describe('TCP port of the HTTP API (0 picks a free port).'),
  /** @defaultValue '127.0.0.1' (containers set HOST=0.0.0.0) */
  HOST: str('127.0.0.1').describe(
    'Interface the HTTP API listens on; 127.0.0.1 keeps it local, containers set 0.0.0.0.',
  ),
  /** @defaultValue 'redis://127.0.0.1:6379' */
  REDIS_URL: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().default('redis://127.0.0.1:6379'))
    .refine((v) => /^rediss?:\/\/.+/.test(v), { error: 'must be a redis:// or rediss:// URL' })
    .describe('Redis holding the queue and the metadata.'),
  /** @defaultValue './.data' */
  DATA_DIR: str('./.data').describe(
    'Directory for uploads and results (a volume shared by API and workers).',
  ),
  /** Unset or empty: DATA_DIR. */
  STORAGE_URL: str('').describe(
    'Object storage shared by hosts, s3://<bucket>[/<prefix>] (S3 or MinIO); unset keeps uploads and results in DATA_DIR.',
  ),
  AWS_ENDPOINT_URL_S3: str('').describe('S3-compatible endpoint (e.g. http://minio:9000); AWS when unset.'),
  AWS_ENDPOINT_URL: str('').describe(
    'Endpoint for every AWS service, used when AWS_ENDPOINT_URL_S3 is unset.',
  ),
  /** @defaultValue 'us-east-1' */
  AWS_REGION: str('us-east-1').describe('Region of the bucket.'),
  AWS_ACCESS_KEY_ID: str('').describe('S3 access key (or any other credential source the AWS SDK reads).'),
  AWS_SECRET_ACCESS_KEY: str('').describe('S3 secret key.'),
  S3_FORCE_PATH_STYLE: z
    .preprocess((v) => (v === '' || v === undefined ? undefined : v), z.enum(['true', 'false']).optional())
    .describe('Path-style bucket addressing; default true when an endpoint is set (MinIO), else false.'),
  /** @defaultValue 256 MiB */
  MAX_UPLOAD_BYTES: int(1024, 2 ** 40, 256 * MiB).describe(
    'Largest accepted upload (a file part or a JSON body).',
  ),
  /** @defaultValue 8192 */
  MAX_DENSE_PARAMS: int(1, 1_000_000, 8192).describe(
    'Largest parameter count P for dense P×P results (hessian, ggn, finite_difference).',
  ),
  /** @defaultValue 30 minutes */
  JOB_TIMEOUT_MS: int(1000, 7 * 24 * 3600 * 1000, 30 * 60 * 1000).describe('A job running longer fails.'),
  /** @defaultValue 1 */
  WORKER_CONCURRENCY: int(1, 64, 1).describe('Jobs one worker process runs at once (each in its own child).'),
  /** @defaultValue 30 s */
  WORKER_LOCK_MS: int(1000, 3600 * 1000, 30_000).describe(
    'Job lock duration; a job whose worker died is picked up again by another worker after about this long.',
  ),
  /** @defaultValue 2 minutes */
  COMPUTE_START_TIMEOUT_MS: int(1000, 3600 * 1000, 120_000).describe(
    'A compute child process (TF.js loaded, backend selected) not ready within this long is killed and replaced.',
  ),
  /** @defaultValue 5 s */
  COMPUTE_STOP_GRACE_MS: int(0, 600 * 1000, 5000).describe(
    'Time a compute child gets to stop a cancelled or timed-out job at its next unit of work before it is killed.',
  ),
  /** @defaultValue 3 */
  JOB_ATTEMPTS: int(1, 100, 3).describe('Attempts for transient failures; bad input is never retried.'),
  /** @defaultValue 'auto' */
  HESSIAN_BACKEND: z
    .preprocess(
      (v) => (v === '' ? undefined : v),
      z.enum(['auto', 'cpu', 'wasm', 'tensorflow']).default('auto'),
    )
    .describe('TF.js backend used by the workers.'),
  /** Comma-separated bearer tokens; unset or empty leaves the API open. */
  API_KEYS: z
    .preprocess(
      (v) => (v === undefined ? '' : v),
      z.string().transform((v) =>
        v
          .split(',')
          .map((k) => k.trim())
          .filter((k) => k.length > 0),
      ),
    )
    .describe('Comma-separated API keys; when set every /v1 route needs `Authorization: Bearer <key>`.'),
  /** @defaultValue 1200 */
  RATE_LIMIT_PER_KEY: int(0, 10_000_000, 1200).describe(
    'Requests per minute one API key (or, without API_KEYS, one client IP) may make; 0 disables the limit.',
  ),
  /** @defaultValue 120 */
  RATE_LIMIT_PER_IP: int(0, 10_000_000, 120).describe(
    'With API_KEYS set: requests per minute one IP may make without a valid key (wrong-key floods get 429); 0 disables.',
  ),
  /** @defaultValue 120 s */
  REQUEST_TIMEOUT_MS: int(1000, 3600 * 1000, 120_000).describe(
    'Longest time to receive a whole request, body included; a slower upload is cut off (408).',
  ),
  /** @defaultValue 2 */
  UPLOAD_THREADS: int(1, 64, 2).describe(
    'Worker threads that decode and check uploads off the API event loop (at most this many at once).',
  ),
  /** @defaultValue 'info' */
  LOG_LEVEL: z
    .preprocess(
      (v) => (v === '' ? undefined : v),
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    )
    .describe('pino log level.'),
  /** @defaultValue 'hessian' */
  QUEUE_PREFIX: z
    .preprocess(
      (v) => (v === '' ? undefined : v),
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, { error: 'may contain only letters, digits, "_", "." and "-"' })
        .default('hessian'),
    )
    .describe('Prefix of every Redis key (queue and metadata), so several deployments can share one Redis.'),
  /** @defaultValue 7 days */
  RESULT_TTL_SECONDS: int(60, 365 * 24 * 3600, 7 * 24 * 3600).describe(
    'How long finished jobs and their results are kept.',
  ),
  /** Unset or empty: no callbacks. */
  CALLBACK_ALLOWED_HOSTS: z
    .preprocess(
      (v) => (v === undefined ? '' : v),
      z
        .string()
        .transform((v) =>
          v
            .split(',')
            .map((h) => h.trim().toLowerCase())
            .filter((h) => h.length > 0),
        )
        .refine(
          (hosts) =>
            hosts.every((h) => /^(\*\.)?[a-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$/.test(h)),
          {
            error: 'must be a comma-separated list of host, host:port or *.domain entries',
          },
        ),
    )
    .describe(
      "Hosts a job's `callback.url` may name (host, host:port, or *.example.com for its subdomains); unset or empty refuses every callback, so the service makes no requests to arbitrary hosts.",
    ),
  /** @defaultValue 8 */
  CALLBACK_ATTEMPTS: int(1, 20, 8).describe(
    'Deliveries tried per callback (network errors, 5xx, 408 and 429 are retried; other answers are final).',
  ),
  /** @defaultValue 1 s */
  CALLBACK_BACKOFF_MS: int(10, 3600 * 1000, 1000).describe(
    'Delay before the second delivery, doubling after each failure (8 attempts from 1 s: at most 127 s of waiting).',
  ),
  /** @defaultValue 10 s */
  CALLBACK_TIMEOUT_MS: int(100, 120 * 1000, 10_000).describe(
    'Time one delivery may take before it counts as failed.',
  ),
  /** @defaultValue 30 days */
  UPLOAD_TTL_SECONDS: int(60, 10 * 365 * 24 * 3600, 30 * 24 * 3600).describe(
    'How long an unused model or dataset is kept after its last use.',
  ),
});

export type Env = z.output<typeof envSchema>;

/** The typed configuration the rest of the service reads. */
export interface Config {
  port: number;
  host: string;
  redisUrl: string;
  dataDir: string;
  /** Where uploads and results live: DATA_DIR, or the bucket STORAGE_URL names. */
  storage: StorageSpec;
  maxUploadBytes: number;
  maxDenseParams: number;
  /** Bytes of the largest dense result: MAX_DENSE_PARAMS² float32 values (one place computes it). */
  maxDenseBytes: number;
  jobTimeoutMs: number;
  workerConcurrency: number;
  jobAttempts: number;
  workerLockMs: number;
  computeStartTimeoutMs: number;
  computeStopGraceMs: number;
  backend: 'auto' | 'cpu' | 'wasm' | 'tensorflow';
  apiKeys: readonly string[];
  rateLimitPerKey: number;
  rateLimitPerIp: number;
  requestTimeoutMs: number;
  uploadThreads: number;
  logLevel: Env['LOG_LEVEL'];
  queuePrefix: string;
  resultTtlSeconds: number;
  uploadTtlSeconds: number;
  /** Lower-cased host, host:port or *.domain entries a callback URL may name; empty: callbacks refused. */
  callbackAllowedHosts: readonly string[];
  callbackAttempts: number;
  callbackBackoffMs: number;
  callbackTimeoutMs: number;
}

/** Variables whose values are never echoed in an error. */
const SECRET = new Set(['API_KEYS', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID']);

/** Thrown by {@link loadConfig}; its message is the single line to print before exiting. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the environment and returns a frozen {@link Config}.
 * @throws ConfigError naming each bad variable, its problem and the value received (API keys are never echoed).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const raw = env[name];
      const shown = SECRET.has(name) || raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`;
      return `${name} ${issue.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const storage = parseStorage({
    dataDir: e.DATA_DIR,
    storageUrl: e.STORAGE_URL,
    endpoint: e.AWS_ENDPOINT_URL_S3 || e.AWS_ENDPOINT_URL,
    region: e.AWS_REGION,
    forcePathStyle: e.S3_FORCE_PATH_STYLE === undefined ? undefined : e.S3_FORCE_PATH_STYLE === 'true',
    accessKeyId: e.AWS_ACCESS_KEY_ID,
    secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
  });
  if (typeof storage === 'string') {
    throw new ConfigError(
      `Invalid configuration: STORAGE_URL ${storage} (got ${JSON.stringify(e.STORAGE_URL)})`,
    );
  }
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    dataDir: e.DATA_DIR,
    storage,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxDenseParams: e.MAX_DENSE_PARAMS,
    maxDenseBytes: e.MAX_DENSE_PARAMS ** 2 * 4,
    jobTimeoutMs: e.JOB_TIMEOUT_MS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    jobAttempts: e.JOB_ATTEMPTS,
    workerLockMs: e.WORKER_LOCK_MS,
    computeStartTimeoutMs: e.COMPUTE_START_TIMEOUT_MS,
    computeStopGraceMs: e.COMPUTE_STOP_GRACE_MS,
    backend: e.HESSIAN_BACKEND,
    apiKeys: Object.freeze([...e.API_KEYS]),
    rateLimitPerKey: e.RATE_LIMIT_PER_KEY,
    rateLimitPerIp: e.RATE_LIMIT_PER_IP,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    uploadThreads: e.UPLOAD_THREADS,
    logLevel: e.LOG_LEVEL,
    queuePrefix: e.QUEUE_PREFIX,
    resultTtlSeconds: e.RESULT_TTL_SECONDS,
    uploadTtlSeconds: e.UPLOAD_TTL_SECONDS,
    callbackAllowedHosts: Object.freeze([...e.CALLBACK_ALLOWED_HOSTS]),
    callbackAttempts: e.CALLBACK_ATTEMPTS,
    callbackBackoffMs: e.CALLBACK_BACKOFF_MS,
    callbackTimeoutMs: e.CALLBACK_TIMEOUT_MS,
  });
}
