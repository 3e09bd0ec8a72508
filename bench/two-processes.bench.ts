/**
 * The machine's own bound on what two pieces can save (issue 11): the engine alone, no queue, no HTTP, on W2 of
 * ../shared/bench. Times, in fresh processes on the wasm backend, the whole computation alone, half of it (piece 0
 * of 2) alone, and two halves in two processes at once, for the two column-route W2 jobs of bench/shards.bench.ts.
 * "two halves at once / whole alone" is the best ratio sharding into two workers can reach on this machine; it is
 * above 0.5 when two processes computing at once slow each other down (shared caches and memory bandwidth).
 *
 *   node --import tsx bench/two-processes.bench.ts [--shared ../shared]
 */
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/integration/helpers/stack.js';

if (process.argv[2] === 'child') {
  const [, , , dir, method, what] = process.argv;
  const { compute, computePiece, initBackend } = await import('../src/engine/index.js');
  const { parseNpy } = await import('../src/contract/data/npy.js');
  await initBackend('wasm');
  const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weights = new Map([['weights.bin', new Uint8Array(readFileSync(path.join(dir, 'weights.bin')))]]);
  const npy = (f: string) => parseNpy(new Uint8Array(readFileSync(path.join(dir, f))));
  const req = {
    model: { modelJson, weights },
    inputs: npy('x.npy'),
    targets: npy('y.npy'),
    loss: { name: 'sparse_categorical_crossentropy' as const },
    method: { name: method } as { name: 'fisher' },
    seed: 1,
  };
  const t0 = performance.now();
  if (what === 'half') await computePiece(req, { index: 0, count: 2 });
  else await compute(req);
  process.send!({ ms: performance.now() - t0 });
  process.exit(0);
}

const { values: v } = parseArgs({
  options: { shared: { type: 'string', default: path.resolve(REPO_ROOT, '../shared') } },
});
const workloads = mkdtempSync(path.join(os.tmpdir(), 'two-processes-'));
try {
  const made = spawnSync(process.execPath, [path.join(v.shared, 'bench', 'make_workloads.cjs'), workloads], {
    env: { ...process.env, NODE_PATH: path.join(REPO_ROOT, 'node_modules') },
    encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`make_workloads.cjs failed: ${made.stderr}`);
  const dir = path.join(workloads, 'W2');
  const run = (n: number, method: string, what: 'whole' | 'half') =>
    Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<number>((resolve, reject) => {
            const child = fork(process.argv[1], ['child', dir, method, what], {
              execArgv: ['--import', 'tsx'],
            });
            child.on('message', (m: { ms: number }) => resolve(m.ms / 1000));
            child.on('exit', (code) => (code ? reject(new Error(`child exited ${code}`)) : undefined));
          }),
      ),
    );
  const rows: string[] = [];
  for (const method of ['fisher', 'finite_difference']) {
    await run(1, method, 'half'); // warm the file cache
    const whole = (await run(1, method, 'whole'))[0];
    const half = (await run(1, method, 'half'))[0];
    const both = Math.max(...(await run(2, method, 'half')));
    rows.push(
      `| W2 ${method} | ${whole.toFixed(2)} | ${half.toFixed(2)} | ${both.toFixed(2)} | ${(both / whole).toFixed(2)}× |`,
    );
  }
  console.log(
    `\n${new Date().toISOString()}: Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ` +
      `load average at end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; engine only, wasm, one fresh process per run\n`,
  );
  console.log(
    '| job | whole alone s | half alone s | two halves at once s (slower) | bound on 2 shards / 1 |',
  );
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  rmSync(workloads, { recursive: true, force: true });
}
