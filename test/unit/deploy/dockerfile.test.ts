/**
 * Static checks of the Dockerfile and .dockerignore (no Docker engine runs the tests): the targets exist, the native
 * TF.js bindings match the locked TF.js, final stages hold production dependencies and the compiled dist/ only and
 * run as a non-root user under an init process with a health check, and the files the images copy reach the build
 * context.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { buildServer } from '../../../src/api/server.js';
import { loadConfig } from '../../../src/config/env.js';
import {
  effectiveEnv,
  execForm,
  healthcheck,
  instructions,
  lineage,
  parseDockerfile,
  readRootFile,
  ROOT,
  type Stage,
} from './deploy-files.js';

const dockerfile = parseDockerfile(readRootFile('Dockerfile'));
const stage = (name: string): Stage => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `no stage "${name}"`);
  return found;
};
const FINAL = ['api', 'worker', 'worker-gpu'];
const WORKERS = ['worker', 'worker-gpu'];

const packageJson = JSON.parse(readRootFile('package.json')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readRootFile('package-lock.json')) as {
  packages: Record<string, { version: string }>;
};
const lockedTfjs = lock.packages['node_modules/@tensorflow/tfjs'].version;

/** Every file under `dir`, recursively. */
const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)],
  );

/** The RUN commands of a stage and of every stage it copies from or starts from, transitively. */
function runsBehind(name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const runs: string[] = [];
  for (const s of lineage(dockerfile, name)) {
    runs.push(...instructions(s, 'RUN'));
    for (const copy of instructions(s, 'COPY')) {
      const from = /--from=(\S+)/.exec(copy)?.[1];
      if (from && dockerfile.stages.some((t) => t.name === from)) runs.push(...runsBehind(from, seen));
    }
  }
  return runs;
}

describe('Dockerfile', () => {
  it('defines the api, worker and worker-gpu targets', () => {
    for (const name of FINAL) stage(name);
  });

  it('pins tfjs-node and tfjs-node-gpu to the @tensorflow/tfjs version of package.json and its lock', () => {
    const pinned = dockerfile.globalArgs.TFJS_NODE_VERSION;
    assert.equal(pinned, lockedTfjs, 'TFJS_NODE_VERSION equals the locked @tensorflow/tfjs');
    const range = packageJson.dependencies['@tensorflow/tfjs'];
    assert.equal(range.replace(/^[\^~]/, ''), pinned, `package.json asks for @tensorflow/tfjs ${range}`);
    const installs = (name: string, pkg: string) =>
      runsBehind(name).some((r) => r.includes(`"${pkg}@\${TFJS_NODE_VERSION}"`));
    assert.ok(
      installs('worker', '@tensorflow/tfjs-node'),
      'worker installs @tensorflow/tfjs-node@TFJS_NODE_VERSION',
    );
    assert.ok(
      installs('worker-gpu', '@tensorflow/tfjs-node-gpu'),
      'worker-gpu installs @tensorflow/tfjs-node-gpu@TFJS_NODE_VERSION',
    );
    assert.ok(!installs('api', '@tensorflow/tfjs-node'), 'the API image carries no native binding');
  });

  it('checks at build time that the pinned version equals the lock', () => {
    for (const name of WORKERS) {
      const runs = runsBehind(name).join('\n');
      assert.match(runs, /packages\['node_modules\/@tensorflow\/tfjs'\]\.version/, name);
    }
  });

  it('has a build-time version check that passes for the lock and stops the build for another version', () => {
    const check = instructions(stage('tfjs-version-check'), 'RUN')[0].replace(
      / && touch \/tfjs-version-ok$/,
      '',
    );
    const dir = mkdtempSync(join(tmpdir(), 'hessian-docker-'));
    try {
      copyFileSync(`${ROOT}package-lock.json`, join(dir, 'package-lock.json'));
      const run = (version: string) =>
        spawnSync('sh', ['-c', check], {
          cwd: dir,
          env: { ...process.env, TFJS_NODE_VERSION: version },
          encoding: 'utf8',
        });
      assert.equal(run(lockedTfjs).status, 0, run(lockedTfjs).stderr);
      const wrong = run('0.0.1');
      assert.equal(wrong.status, 1);
      assert.match(
        wrong.stderr,
        new RegExp(
          `TFJS_NODE_VERSION=0\\.0\\.1 but package-lock\\.json locks @tensorflow/tfjs ${lockedTfjs}`,
        ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has worker health checks that pass on a fresh heartbeat file and fail on a stale or missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-docker-'));
    try {
      for (const name of WORKERS) {
        const [cmd, ...args] = healthcheck(dockerfile, name)!;
        const file = '/tmp/hessian-worker.alive';
        const local = join(dir, 'alive');
        const probe = () =>
          spawnSync(
            cmd,
            args.map((a) => a.replace(file, local)),
            { encoding: 'utf8' },
          ).status;
        assert.ok(args.join(' ').includes(file), name);
        assert.equal(probe(), 1, `${name}: missing file`);
        writeFileSync(local, 'now');
        assert.equal(probe(), 0, `${name}: fresh file`);
        const old = new Date(Date.now() - 60_000);
        utimesSync(local, old, old);
        assert.equal(probe(), 1, `${name}: a file 60 s old`);
        rmSync(local);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has an API health check that passes against a running API on PORT', async () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      QUEUE_PREFIX: `test-hc-${randomUUID().slice(0, 8)}`,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'hessian-hc-')),
    });
    const { server, services } = await buildServer(config, { logger: false });
    try {
      await server.listen({ port: 0, host: '127.0.0.1' });
      const port = (server.server.address() as { port: number }).port;
      const [cmd, ...args] = healthcheck(dockerfile, 'api')!;
      const probe = (p: number) =>
        new Promise<number | null>((resolve) => {
          // Asynchronous spawn: the server answering the probe runs in this process.
          const child = spawn(cmd, args, { env: { ...process.env, PORT: String(p) }, stdio: 'ignore' });
          child.once('exit', (code) => resolve(code));
        });
      assert.equal(await probe(port), 0);
      const keys = await services.redis.keys(`${config.queuePrefix}:*`);
      if (keys.length > 0) await services.redis.del(...keys);
      await server.close();
      assert.equal(await probe(port), 1, 'fails once the API is gone');
    } finally {
      await server.close();
      rmSync(config.dataDir, { recursive: true, force: true });
    }
  });

  it('runs the GPU worker on a CUDA 11 + cuDNN 8 runtime with Node 20', () => {
    const base = lineage(dockerfile, 'worker-gpu').at(-1)!.from;
    assert.match(base, /^nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-ubuntu/);
    assert.equal(dockerfile.globalArgs.NODE_VERSION, '20');
    const cpuBase = lineage(dockerfile, 'worker').at(-1)!.from;
    assert.match(cpuBase, /^node:20-/);
  });

  it('puts production dependencies only in the images, and dev dependencies only in the build stage', () => {
    const allOmitDev = (name: string) => {
      const installs = runsBehind(name).filter((r) => /\bnpm (ci|install)\b/.test(r));
      assert.ok(installs.length > 0, `${name} installs dependencies`);
      for (const run of installs) {
        for (const cmd of run.split('&&').filter((c) => /\bnpm (ci|install)\b/.test(c))) {
          assert.match(cmd, /--omit=dev/, `${name}: ${cmd.trim()}`);
        }
      }
    };
    for (const name of FINAL) {
      const copies = instructions(stage(name), 'COPY');
      const modules = copies.filter((c) => c.endsWith(' ./node_modules'));
      assert.equal(modules.length, 1, `${name} copies one node_modules`);
      allOmitDev(/--from=(\S+)/.exec(modules[0])![1]);
      for (const copy of copies.filter((c) => !modules.includes(c))) {
        assert.equal(copy, '--from=app /app ./', `${name}: everything else comes from the app stage`);
      }
    }
    // The dev dependencies (TypeScript) are installed in the build stage only, which hands over dist/ alone.
    assert.match(instructions(stage('build'), 'RUN').join('\n'), /npm ci --include=dev/);
    assert.ok(
      instructions(stage('app'), 'COPY').every((c) => !c.includes('node_modules')),
      'the app stage copies no node_modules',
    );
  });

  it('compiles src/ in the build stage and runs only dist/, bin/ and package.json', () => {
    assert.match(instructions(stage('build'), 'RUN').join('\n'), /\bnpm run build\b/);
    assert.deepEqual(instructions(stage('app'), 'COPY'), [
      '--from=source /app/package.json /app/',
      '--from=source /app/bin /app/bin',
      '--from=build /app/dist /app/dist',
    ]);
  });

  it('keeps tsx a development dependency, which neither bin/ nor src/ imports', () => {
    assert.equal(packageJson.dependencies.tsx, undefined, 'tsx is not a production dependency');
    assert.ok(packageJson.devDependencies.tsx, 'tsx is a development dependency (tests, bench, openapi)');
    const importsTsx = /\bfrom\s+['"]tsx|\bimport\s*\(\s*['"]tsx|\brequire\s*\(\s*['"]tsx|^import\s+['"]tsx/m;
    const files = ['bin/hessian.js', ...sourceFiles(`${ROOT}src`).map((f) => relative(ROOT, f))];
    assert.ok(files.length > 50);
    for (const file of files) assert.doesNotMatch(readRootFile(file), importsTsx, file);
  });

  it('runs every final stage as a non-root user under tini, with a health check', () => {
    for (const name of FINAL) {
      const user = instructions(stage(name), 'USER').at(-1);
      assert.ok(user && user !== 'root' && user !== '0', `${name} runs as ${user}`);
      assert.deepEqual(execForm(dockerfile, name, 'ENTRYPOINT')?.slice(0, 2), ['/usr/bin/tini', '--'], name);
      assert.ok(healthcheck(dockerfile, name), `${name} has a HEALTHCHECK`);
    }
    assert.match(healthcheck(dockerfile, 'api')!.join(' '), /\/healthz/);
  });

  it('sets HESSIAN_BACKEND=tensorflow in the worker images', () => {
    for (const name of WORKERS)
      assert.equal(effectiveEnv(dockerfile, name).HESSIAN_BACKEND, 'tensorflow', name);
    assert.equal(effectiveEnv(dockerfile, 'api').HESSIAN_BACKEND, undefined);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const allowed = readRootFile('.dockerignore')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/$/, ''));
    for (const s of dockerfile.stages) {
      for (const copy of instructions(s, 'COPY')) {
        if (copy.includes('--from=')) continue;
        const paths = copy.split(' ').filter((p) => !p.startsWith('--'));
        for (const src of paths.slice(0, -1)) {
          assert.ok(existsSync(`${ROOT}${src}`), `COPY ${src}: missing`);
          assert.ok(allowed.includes(src), `COPY ${src}: excluded by .dockerignore`);
        }
      }
    }
  });

  it('starts the same CLI entry point that the package declares', () => {
    const bin = (JSON.parse(readRootFile('package.json')) as { bin: Record<string, string> }).bin.hessian;
    for (const name of FINAL) assert.equal(execForm(dockerfile, name, 'ENTRYPOINT')?.[3], bin, name);
  });
});
