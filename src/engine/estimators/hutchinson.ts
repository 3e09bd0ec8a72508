/**
 * Hutchinson's stochastic trace and diagonal estimators (Hutchinson 1990; Bekas, Kokiopoulou & Saad 2007).
 *
 * For a random vector v with E[v vᵀ] = I, E[vᵀ A v] = tr(A); with Rademacher entries (±1) also
 * E[v ⊙ A v] = diag(A), since vᵢ² = 1. Averaging N independent probes gives an unbiased estimate whose
 * standard error s/√N comes from the sample standard deviation s of the per-probe values. Rademacher probes
 * minimize the variance among i.i.d. probes: Var[vᵀAv] = 2(‖A‖_F² − Σᵢ aᵢᵢ²), against 2‖A‖_F² for Gaussian.
 */
import { applyBlock, blockSizeOf, type LinearOperator } from './linear-operator.js';
import { dot } from './dense-linalg.js';
import { checkInteger } from './options.js';
import { createRng, type Rng } from './rng.js';

export type ProbeDistribution = 'rademacher' | 'gaussian';

export interface HutchinsonOptions {
  /** Number of probes (= products with A), ≥ 1. */
  probes: number;
  /** @defaultValue createRng(0) */
  rng?: Rng;
  /** @defaultValue 'rademacher' */
  distribution?: ProbeDistribution;
}

export interface TraceEstimate {
  trace: number;
  /** Standard error of the estimate; NaN with a single probe (no sample variance). */
  standardError: number;
  probes: number;
}

export interface DiagonalEstimate {
  diagonal: Float64Array;
  /** Per-entry standard error; NaN with a single probe. */
  standardError: Float64Array;
  probes: number;
}

/**
 * Estimates tr(A) as the mean of vᵀAv over random probes v.
 *
 * @throws EngineError('invalid_method') when probes < 1.
 */
export async function hutchinsonTrace(
  op: LinearOperator,
  options: HutchinsonOptions,
): Promise<TraceEstimate> {
  const probes = checkInteger('probes', options.probes, 1);
  const rng = options.rng ?? createRng(0);
  const draw =
    options.distribution === 'gaussian' ? rng.gaussianVector.bind(rng) : rng.rademacherVector.bind(rng);
  const samples = await hutchinsonSamples(op, { start: 0, end: probes }, () => draw(op.size));
  const { mean, standardError } = meanAndStandardError(samples);
  return { trace: mean, standardError, probes };
}

/**
 * The per-probe values vᵀAv of probes [start, end), probe j being `draw(j)` (called in order), in block products
 * of the operator's block size counted from `start`.
 */
export async function hutchinsonSamples(
  op: LinearOperator,
  range: { start: number; end: number },
  draw: (index: number) => Float64Array,
): Promise<Float64Array> {
  const samples = new Float64Array(range.end - range.start);
  const chunk = blockSizeOf(op);
  for (let start = range.start; start < range.end; start += chunk) {
    const vs = Array.from({ length: Math.min(chunk, range.end - start) }, (_, j) => draw(start + j));
    (await applyBlock(op, vs)).forEach((av, j) => (samples[start - range.start + j] = dot(vs[j], av)));
  }
  return samples;
}

/**
 * Estimates diag(A) as the mean of v ⊙ Av over Rademacher probes v.
 *
 * @throws EngineError('invalid_method') when probes < 1.
 */
export async function hutchinsonDiagonal(
  op: LinearOperator,
  options: Omit<HutchinsonOptions, 'distribution'>,
): Promise<DiagonalEstimate> {
  const probes = checkInteger('probes', options.probes, 1);
  const rng = options.rng ?? createRng(0);
  const n = op.size;
  // Welford's running mean and sum of squared deviations, per entry: one pass, no per-probe storage.
  const mean = new Float64Array(n);
  const m2 = new Float64Array(n);
  const chunk = blockSizeOf(op);
  for (let start = 0; start < probes; start += chunk) {
    const vs = Array.from({ length: Math.min(chunk, probes - start) }, () => rng.rademacherVector(n));
    const avs = await applyBlock(op, vs);
    vs.forEach((v, j) => {
      const p = start + j + 1;
      const av = avs[j];
      for (let i = 0; i < n; i++) {
        const x = v[i] * av[i];
        const delta = x - mean[i];
        mean[i] += delta / p;
        m2[i] += delta * (x - mean[i]);
      }
    });
  }
  const standardError = m2.map((s) => (probes > 1 ? Math.sqrt(s / (probes - 1) / probes) : Number.NaN));
  return { diagonal: mean, standardError, probes };
}

/** Sample mean and its standard error s/√N (NaN for N = 1). */
export function meanAndStandardError(samples: Float64Array): { mean: number; standardError: number } {
  const count = samples.length;
  let mean = 0;
  for (const x of samples) mean += x;
  mean /= count;
  if (count < 2) return { mean, standardError: Number.NaN };
  let ss = 0;
  for (const x of samples) ss += (x - mean) * (x - mean);
  return { mean, standardError: Math.sqrt(ss / (count - 1) / count) };
}
