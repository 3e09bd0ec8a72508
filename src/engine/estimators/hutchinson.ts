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
 * Per-entry moments of a run of probes' values v ⊙ Av: their count, mean and sum of squared deviations from the
 * mean (M2), in float64.
 */
export interface DiagonalMoments {
  count: number;
  mean: Float64Array;
  m2: Float64Array;
}

/** The moments of no probes, for entries of size n: what {@link mergeMoments} folds chunks into. */
export function emptyMoments(n: number): DiagonalMoments {
  return { count: 0, mean: new Float64Array(n), m2: new Float64Array(n) };
}

/**
 * The moments of probes [start, end) of v ⊙ Av, chunk by chunk: one chunk per block product of the operator's block
 * size counted from `start`, reduced by Welford's update in probe order. Probe j is `draw(j)` (called in order);
 * `onChunk` gets each chunk's moments, in order. A chunk's moments depend only on its probes, so a run over any
 * range of whole chunks reproduces the chunks a full run computes.
 */
export async function hutchinsonDiagonalChunks(
  op: LinearOperator,
  range: { start: number; end: number },
  draw: (index: number) => Float64Array,
  onChunk: (moments: DiagonalMoments) => void | Promise<void>,
): Promise<void> {
  const n = op.size;
  const chunk = blockSizeOf(op);
  for (let start = range.start; start < range.end; start += chunk) {
    const vs = Array.from({ length: Math.min(chunk, range.end - start) }, (_, j) => draw(start + j));
    const avs = await applyBlock(op, vs);
    const { mean, m2 } = emptyMoments(n);
    vs.forEach((v, j) => {
      const p = j + 1;
      const av = avs[j];
      for (let i = 0; i < n; i++) {
        const x = v[i] * av[i];
        const delta = x - mean[i];
        mean[i] += delta / p;
        m2[i] += delta * (x - mean[i]);
      }
    });
    await onChunk({ count: vs.length, mean, m2 });
  }
}

/**
 * Folds the moments of `next` into `total` in place: those of both runs together, by the pairwise update of Chan,
 * Golub & LeVeque (1979). Folding chunks in a fixed order gives the same bits however they were computed.
 */
export function mergeMoments(total: DiagonalMoments, next: DiagonalMoments): void {
  if (next.count === 0) return;
  if (total.count === 0) {
    total.mean.set(next.mean);
    total.m2.set(next.m2);
    total.count = next.count;
    return;
  }
  const count = total.count + next.count;
  const weight = next.count / count;
  const cross = (total.count * next.count) / count;
  for (let i = 0; i < total.mean.length; i++) {
    const delta = next.mean[i] - total.mean[i];
    total.mean[i] += delta * weight;
    total.m2[i] += next.m2[i] + delta * delta * cross;
  }
  total.count = count;
}

/** The estimate from the moments of every probe: their mean, and its standard error √(M2 / (N − 1) / N). */
export function diagonalFromMoments(moments: DiagonalMoments): DiagonalEstimate {
  const probes = moments.count;
  const standardError = moments.m2.map((s) =>
    probes > 1 ? Math.sqrt(s / (probes - 1) / probes) : Number.NaN,
  );
  return { diagonal: moments.mean, standardError, probes };
}

/**
 * Estimates diag(A) as the mean of v ⊙ Av over Rademacher probes v, drawn in order from `rng`: the moments of each
 * chunk of probes ({@link hutchinsonDiagonalChunks}) merged in chunk order, one pass, no per-probe storage.
 *
 * @throws EngineError('invalid_method') when probes < 1.
 */
export async function hutchinsonDiagonal(
  op: LinearOperator,
  options: Omit<HutchinsonOptions, 'distribution'>,
): Promise<DiagonalEstimate> {
  const probes = checkInteger('probes', options.probes, 1);
  const rng = options.rng ?? createRng(0);
  const total = emptyMoments(op.size);
  await hutchinsonDiagonalChunks(
    op,
    { start: 0, end: probes },
    () => rng.rademacherVector(op.size),
    (chunk) => mergeMoments(total, chunk),
  );
  return diagonalFromMoments(total);
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
