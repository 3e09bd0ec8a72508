/**
 * Where the time of a Hessian-vector product goes (issue 10, item 4): one W1 HVP (MLP 784-64-10 tanh, softmax CE,
 * N = 128, P = 50,890) and one block of k HVPs, profiled kernel by kernel with tf.profile, grouped by kernel and
 * input shapes, plus the unprofiled wall time per product and the arithmetic rate of the matMuls.
 *
 *   node --import tsx bench/profile-hvp.ts [--backend wasm|cpu] [--workload W1|W2|W3] [--k 10]
 *
 * The workload comes from ../shared/bench/make_workloads.cjs (written to a temporary directory).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../src/engine/backend.js';
import { buildObjective } from '../src/engine/objective.js';
import { hessianOperator } from '../src/engine/operators/hessian-operator.js';
import { prepareRequest } from '../src/contract/request.js';
import { parseNpy } from '../src/contract/data/npy.js';

const { values: v } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    workload: { type: 'string', default: 'W1' },
    k: { type: 'string', default: '10' },
  },
});
const root = path.resolve(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'profile-hvp-'));
try {
  const made = spawnSync(process.execPath, [path.join(root, '../shared/bench/make_workloads.cjs'), dir], {
    env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') },
    encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`make_workloads.cjs failed: ${made.stderr}`);
  await initBackend(v.backend as BackendChoice);
  const wl = path.join(dir, v.workload!);
  const npy = (f: string) => parseNpy(new Uint8Array(readFileSync(path.join(wl, f))));
  const modelJson = JSON.parse(readFileSync(path.join(wl, 'model.json'), 'utf8'));
  const weights = new Map<string, Uint8Array>();
  for (const g of modelJson.weightsManifest) {
    for (const p of g.paths) weights.set(p, new Uint8Array(readFileSync(path.join(wl, p))));
  }
  const req = {
    model: { modelJson, weights },
    inputs: npy('x.npy'),
    targets: npy('y.npy'),
    loss: { name: 'sparse_categorical_crossentropy' as const },
    method: { name: 'diagonal' as const },
  };
  const prepared = prepareRequest(req);
  const objective = buildObjective(prepared.model, req.inputs, req.targets, prepared.loss, prepared.layout);
  const op = hessianOperator(objective);
  const k = Number(v.k);
  const vs = Array.from({ length: k }, (_, i) =>
    Float64Array.from({ length: objective.numParams }, (_, j) => Math.sin(i + j)),
  );
  const runs: [string, () => Promise<unknown>][] = [
    ['1 HVP (matvec)', () => op.matvec(vs[0])],
    [`${k} HVPs (one block)`, () => op.matmat!(vs)],
  ];
  console.log(
    `${v.workload} on ${tf.getBackend()}: P = ${objective.numParams}, N = ${objective.numExamples}`,
  );
  for (const [label, run] of runs) {
    await run(); // warm-up: kernels compiled, index caches filled
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t = performance.now();
      await run();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const info = await tf.profile(async () => {
      await run();
    });
    const groups = new Map<string, { ms: number; count: number; flops: number }>();
    let kernelMs = 0;
    for (const kernel of info.kernels) {
      const ms = await (kernel.kernelTimeMs as unknown as Promise<number> | number);
      kernelMs += ms;
      const key = `${kernel.name} ${JSON.stringify(kernel.inputShapes)}`;
      const g = groups.get(key) ?? { ms: 0, count: 0, flops: 0 };
      g.ms += ms;
      g.count++;
      if (kernel.name === 'BatchMatMul') {
        const [a, b] = kernel.inputShapes as number[][];
        const batch = a.length === 3 ? a[0] : 1;
        g.flops += 2 * batch * a[a.length - 2] * a[a.length - 1] * b[b.length - 1];
      }
      groups.set(key, g);
    }
    const matmul = [...groups].filter(([key]) => key.startsWith('BatchMatMul'));
    const matmulMs = matmul.reduce((s, [, g]) => s + g.ms, 0);
    const matmulFlops = matmul.reduce((s, [, g]) => s + g.flops, 0);
    console.log(
      `\n${label}: median ${times[3].toFixed(1)} ms unprofiled (${(times[3] / (label.startsWith('1 ') ? 1 : k)).toFixed(2)} ms per product); ` +
        `profiled: ${info.kernels.length} kernels, ${kernelMs.toFixed(1)} ms in kernels, of which matMul ` +
        `${matmulMs.toFixed(1)} ms at ${(matmulFlops / matmulMs / 1e6).toFixed(2)} GFLOP/s`,
    );
    for (const [key, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10)) {
      console.log(`${g.ms.toFixed(2).padStart(9)} ms ${String(g.count).padStart(4)}×  ${key}`);
    }
  }
  objective.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
