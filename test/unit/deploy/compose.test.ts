/**
 * Static checks of docker-compose.yml (no Docker engine runs the tests): it parses, its services build targets the
 * Dockerfile has, run commands the CLI has, set only variables the config schema knows, and have the shape the
 * operations guide relies on.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { envSchema, loadConfig } from '../../../src/config/env.js';
import { cliArgs } from '../../helpers/cli.js';
import {
  effectiveEnv,
  execForm,
  healthcheck,
  parseDockerfile,
  readCompose,
  readRootFile,
  ROOT,
} from './deploy-files.js';

const compose = readCompose();
const dockerfile = parseDockerfile(readRootFile('Dockerfile'));
const targets = new Set(dockerfile.stages.map((s) => s.name).filter(Boolean));
const appServices = Object.entries(compose.services).filter(([, s]) => s.build);

/** `${VAR:-default}` as Compose resolves it when VAR is unset. */
const interpolateUnset = (v: string | number): string =>
  String(v).replace(/\$\{\w+:-([^}]*)\}/g, (_, def: string) => def);

/** `docker compose` (v2) or `docker-compose` (v1, e.g. Debian's package) when one is installed; no engine needed. */
function composeCli(): string[] | undefined {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    if (spawnSync(cmd[0], [...cmd.slice(1), 'version'], { encoding: 'utf8' }).status === 0) return cmd;
  }
  return undefined;
}
const cli = composeCli();

describe('docker-compose.yml', () => {
  it(
    'validates with `docker compose config` (skipped where no Compose CLI is installed)',
    { skip: !cli },
    () => {
      // Compose v1 predates the top-level `name`; everything else is checked against its schema as is.
      const text = readRootFile('docker-compose.yml');
      const input = cli!.length === 1 ? text.replace(/^name:.*$/m, '') : text;
      for (const profile of [[], ['--profile', 'gpu']]) {
        execFileSync(
          cli![0],
          [...cli!.slice(1), '-f', '-', '--project-directory', ROOT, ...profile, 'config', '-q'],
          {
            input,
            cwd: ROOT,
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        );
      }
    },
  );

  it('parses, and has the redis, minio, api, worker and worker-gpu services', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['api', 'minio', 'redis', 'worker', 'worker-gpu']);
  });

  it('builds every app service from a target the Dockerfile defines', () => {
    for (const [name, service] of appServices) {
      assert.ok(service.build?.target, `${name} names a build target`);
      assert.ok(targets.has(service.build.target), `${name}: no "FROM ... AS ${service.build.target}"`);
      assert.equal(service.build.context, '.', `${name} builds from the repository root`);
    }
  });

  it('runs only commands the hessian CLI accepts, with the options given', () => {
    for (const [name, service] of appServices) {
      assert.ok(service.command, `${name} states its command`);
      const entrypoint = execForm(dockerfile, service.build!.target!, 'ENTRYPOINT');
      assert.deepEqual(entrypoint, ['/usr/bin/tini', '--', 'node', 'bin/hessian.js'], `${name} entrypoint`);
      // `--help` after the service's own arguments: the command and every option must parse for help to print.
      const run = spawnSync(process.execPath, cliArgs(...service.command!, '--help'), {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 0, `${name}: hessian ${service.command!.join(' ')} --help → ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^usage: hessian ${service.command![0]}`));
    }
  });

  it('sets only environment variables the config schema knows, with values it accepts', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const [name, service] of appServices) {
      const env = service.environment ?? {};
      for (const key of Object.keys(env)) {
        assert.ok(known.has(key), `${name} sets ${key}, which src/config/env.ts does not know`);
      }
      const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolateUnset(v)]));
      assert.doesNotThrow(() => loadConfig(resolved), `${name}: its environment must load`);
    }
  });

  it('gives the API and the workers the same shared settings', () => {
    const shared = [
      'REDIS_URL',
      'STORAGE_URL',
      'AWS_ENDPOINT_URL_S3',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'QUEUE_PREFIX',
      'MAX_DENSE_PARAMS',
      'JOB_TIMEOUT_MS',
      'RESULT_TTL_SECONDS',
    ];
    const api = compose.services.api.environment!;
    for (const name of ['worker', 'worker-gpu']) {
      for (const key of shared)
        assert.equal(compose.services[name].environment![key], api[key], `${name} ${key}`);
    }
  });

  it('runs Redis with append-only persistence, noeviction, a health check and a volume', () => {
    const redis = compose.services.redis;
    const args = (redis.command ?? []).join(' ');
    assert.match(args, /--appendonly yes/);
    assert.match(args, /--maxmemory-policy noeviction/);
    assert.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
    assert.ok(redis.volumes?.some((v) => v.split(':')[0] in compose.volumes && v.endsWith(':/data')));
  });

  it('publishes the API on port 3000 and starts the app services once Redis and MinIO are healthy', () => {
    assert.ok(compose.services.api.ports?.some((p) => p.endsWith(':3000')));
    for (const [name, service] of appServices) {
      assert.equal(service.depends_on?.redis?.condition, 'service_healthy', name);
      assert.equal(service.depends_on?.minio?.condition, 'service_healthy', name);
    }
  });

  it('keeps uploads and results in the MinIO bucket: every app service on the same s3:// URL, no shared volume', () => {
    const minio = compose.services.minio;
    assert.deepEqual(minio.healthcheck?.test, ['CMD', 'mc', 'ready', 'local']);
    assert.ok(minio.volumes?.some((v) => v.split(':')[0] in compose.volumes && v.endsWith(':/data')));
    // MinIO's root credentials are the services' S3 credentials, from the same variables and defaults.
    const env = minio.environment as Record<string, string>;
    for (const [name, service] of appServices) {
      const app = service.environment as Record<string, string>;
      const config = loadConfig(
        Object.fromEntries(Object.entries(app).map(([k, v]) => [k, interpolateUnset(v)])),
      );
      assert.equal(config.storage.kind, 's3', `${name} stores in the bucket`);
      assert.equal(interpolateUnset(app.AWS_ENDPOINT_URL_S3), 'http://minio:9000', name);
      assert.equal(interpolateUnset(app.AWS_ACCESS_KEY_ID), interpolateUnset(env.MINIO_ROOT_USER), name);
      assert.equal(
        interpolateUnset(app.AWS_SECRET_ACCESS_KEY),
        interpolateUnset(env.MINIO_ROOT_PASSWORD),
        name,
      );
      assert.ok(!(service.volumes ?? []).some((v) => v.endsWith(':/data')), `${name} mounts no data volume`);
    }
  });

  it('keeps workers scalable with --scale: no container name and no published port', () => {
    for (const name of ['worker', 'worker-gpu']) {
      assert.equal(compose.services[name].container_name, undefined, name);
      assert.equal(compose.services[name].ports, undefined, name);
    }
  });

  it('asks workers for the native backend, so a missing binding stops them instead of computing on the CPU', () => {
    for (const name of ['worker', 'worker-gpu']) {
      assert.equal(interpolateUnset(compose.services[name].environment!.HESSIAN_BACKEND), 'tensorflow', name);
    }
  });

  it('puts the GPU worker under the gpu profile with an NVIDIA GPU reserved and a CUDA kernel cache volume', () => {
    const gpu = compose.services['worker-gpu'];
    assert.deepEqual(gpu.profiles, ['gpu']);
    const device = gpu.deploy?.resources?.reservations?.devices?.[0];
    assert.equal(device?.driver, 'nvidia');
    assert.deepEqual(device?.capabilities, ['gpu']);
    // One worker per GPU: a pinned device, since every replica of a `count: 1` service gets the same GPU.
    assert.equal(device?.device_ids?.length, 1);
    assert.equal(gpu.environment!.WORKER_CONCURRENCY, 1);
    const cachePath = effectiveEnv(dockerfile, 'worker-gpu').CUDA_CACHE_PATH;
    assert.ok(cachePath, 'the worker-gpu image sets CUDA_CACHE_PATH');
    const mount = gpu.volumes?.find((v) => v.endsWith(`:${cachePath}`));
    assert.ok(mount && mount.split(':')[0] in compose.volumes, `a named volume at ${cachePath}`);
    for (const name of ['api', 'worker']) assert.equal(compose.services[name].profiles, undefined, name);
  });

  it('writes the worker heartbeat file the image health check reads', () => {
    for (const name of ['worker', 'worker-gpu']) {
      const command = compose.services[name].command!;
      const at = command.indexOf('--heartbeat-file');
      assert.ok(at >= 0 && command[at + 1], `${name} passes --heartbeat-file <path>`);
      const file = command[at + 1];
      const check = healthcheck(dockerfile, name) ?? [];
      assert.ok(check.join(' ').includes(file), `${name}: HEALTHCHECK reads ${file}`);
    }
  });
});
