/**
 * How far each verification check sits from its tolerance, and what the checks cost (docs/engine.md, "Verification"):
 *
 *   node --import tsx bench/verification-margins.ts [cpu|wasm] [margins|floor|cost]
 *
 * margins: every method through `compute` on all 61 golden cases, the largest value of each check, and any failure;
 * floor: the float32 floor of the eigen and inverse-HVP residuals (tight tolerances);
 * cost: verification seconds against method seconds on two golden cases (cpu, mean of 3 runs).
 */
import { initBackend } from '../src/engine/backend.js';
import { compute } from '../src/engine/compute.js';
import type { MethodSpecInput } from '../src/contract/request-schema.js';
import { goldenCaseNames, loadGoldenCase } from '../test/helpers/golden.js';

const backend = (process.argv[2] ?? 'cpu') as 'cpu' | 'wasm';
const what = process.argv[3] ?? 'margins';
await initBackend(backend);

const probe = (p: number) => [Array.from({ length: p }, (_, i) => Math.sin(i + 1))];

async function margins(): Promise<void> {
  const stats: Record<
    string,
    { max: number; worst: string; n: number; fails: string[]; inconclusive: number }
  > = {};
  for (const name of goldenCaseNames()) {
    const c = loadGoldenCase(name);
    const v = probe(c.numParams);
    const lmin = c.eigenvalues[0];
    const specs = [
      { name: 'hessian' },
      { name: 'ggn' },
      { name: 'hvp', vectors: v },
      { name: 'ggnvp', vectors: v },
      { name: 'diagonal' },
      { name: 'diagonal', curvature: 'ggn' },
      { name: 'eigen', k: 3 },
      { name: 'eigen', k: 3, curvature: 'ggn' },
      { name: 'inverse_hvp', curvature: 'ggn', damping: 0.1, vectors: v },
      { name: 'inverse_hvp', damping: Math.max(0, -lmin) + 0.1 * Math.abs(lmin) + 0.01, vectors: v },
      { name: 'finite_difference' },
      { name: 'trace' },
      { name: 'diagonal_estimate', probes: 10 },
      { name: 'density', probes: 2, steps: 10 },
    ] as (MethodSpecInput & { curvature?: string })[];
    for (const spec of specs) {
      const r = await compute({ ...c.request, method: spec }, { backend });
      for (const ch of r.verification.checks) {
        const key = `${spec.name}${spec.curvature ? '/' + spec.curvature : ''}:${ch.name}`;
        const s = (stats[key] ??= { max: 0, worst: '', n: 0, fails: [], inconclusive: 0 });
        s.n++;
        if (ch.inconclusive) {
          s.inconclusive++;
          continue;
        }
        if ((ch.value ?? 0) > s.max) {
          s.max = ch.value ?? 0;
          s.worst = name;
        }
        if (!ch.passed) s.fails.push(`${name}=${ch.value?.toExponential(2)}`);
      }
    }
  }
  console.log('| method:check | runs | largest value | worst case | inconclusive | failed |');
  console.log('|---|---|---|---|---|---|');
  for (const [k, s] of Object.entries(stats).sort()) {
    console.log(
      `| ${k} | ${s.n} | ${s.max.toExponential(2)} | ${s.worst} | ${s.inconclusive} | ${s.fails.length} ${s.fails.slice(0, 4).join(' ')} |`,
    );
  }
}

async function floor(): Promise<void> {
  let eMax = 0;
  let iMax = 0;
  for (const name of goldenCaseNames()) {
    const c = loadGoldenCase(name);
    const P = c.numParams;
    const e = await compute(
      { ...c.request, method: { name: 'eigen', k: 3, tol: 1e-9, maxIter: P } },
      { backend },
    );
    eMax = Math.max(eMax, e.verification.checks.find((x) => x.name === 'eigen_residuals')!.value!);
    const s = await compute(
      {
        ...c.request,
        method: { name: 'inverse_hvp', curvature: 'ggn', damping: 0.1, tol: 1e-10, vectors: probe(P) },
      },
      { backend },
    );
    iMax = Math.max(iMax, s.verification.checks.find((x) => x.name === 'inverse_hvp_residual')!.value!);
  }
  console.log(
    `${backend}: eigen residual floor (tol 1e-9, maxIter P) ${eMax.toExponential(2)}; ` +
      `inverse-HVP residual floor (G + 0.1·I, tol 1e-10) ${iMax.toExponential(2)}`,
  );
}

async function cost(): Promise<void> {
  console.log('| case | method | method time | verification time |');
  console.log('|---|---|---|---|');
  for (const name of ['mlp_tanh_cce_fused', 'cnn_two_conv_maxpool']) {
    const c = loadGoldenCase(name);
    const v = probe(c.numParams);
    const specs = [
      { name: 'hessian' },
      { name: 'ggn' },
      { name: 'hvp', vectors: v },
      { name: 'ggnvp', vectors: v },
      { name: 'diagonal' },
      { name: 'diagonal_estimate' },
      { name: 'trace' },
      { name: 'eigen', k: 3 },
      { name: 'density' },
      { name: 'inverse_hvp', curvature: 'ggn', damping: 0.1, vectors: v },
      { name: 'finite_difference' },
    ] as MethodSpecInput[];
    for (const spec of specs) {
      await compute({ ...c.request, method: spec }, { backend });
      let m = 0;
      let ver = 0;
      for (let k = 0; k < 3; k++) {
        const r = await compute({ ...c.request, method: spec }, { backend });
        m += r.timings.methodSeconds / 3;
        ver += r.timings.verificationSeconds / 3;
      }
      console.log(`| ${name} | ${spec.name} | ${(m * 1000).toFixed(0)} ms | ${(ver * 1000).toFixed(0)} ms |`);
    }
  }
}

const run = { margins, floor, cost };
await run[what as keyof typeof run]();
