/**
 * Spectral density by stochastic Lanczos quadrature (Lin, Saad & Yang 2016; Ubaru, Chen & Saad 2017;
 * Ghorbani, Krishnan & Xiao 2019, as in PyHessian).
 *
 * The spectral measure μ = (1/n) Σⱼ δ(λⱼ) satisfies ∫ f dμ = tr f(A) / n = E[vᵀ f(A) v] for a probe v with
 * E[v vᵀ] = I/n; a Rademacher vector scaled to unit norm is one. For each probe, m Lanczos steps from v give
 * T_m = S Θ Sᵀ, and the Gauss quadrature vᵀ f(A) v ≈ Σᵢ τᵢ f(θᵢ) with nodes θᵢ (Ritz values) and weights
 * τᵢ = (e₁ᵀ sᵢ)² (Golub & Meurant 2010), exact for polynomials of degree < 2m; the weights sum to ‖v‖² = 1.
 * Averaging over probes and replacing each node by a Gaussian of width σ gives a smooth density
 *
 *   φ(x) = (1/probes) Σ_probes Σᵢ τᵢ N(x; θᵢ, σ²),  with ∫ φ = 1
 *
 * (multiply by n for an eigenvalue count per unit). On a breakdown the Krylov space is invariant and its
 * quadrature is already exact, so that probe stops early.
 */
import { batchedOperator, blockSizeOf, type LinearOperator } from './linear-operator.js';
import { tridiagonalEigenRows } from './dense-linalg.js';
import { LanczosProcess } from './lanczos-process.js';
import { checkInteger, checkPositive } from './options.js';
import { createRng, type Rng } from './rng.js';

/** Memory for the Lanczos bases of the SLQ runs that go side by side. */
const SLQ_WAVE_BYTES = 256 * 2 ** 20;

export interface SlqOptions {
  /** Random probes, ≥ 1. @defaultValue 8 */
  probes?: number;
  /** Lanczos steps per probe, capped at n. @defaultValue 60 */
  steps?: number;
  /** Points of the density grid, ≥ 2. @defaultValue 400 */
  gridPoints?: number;
  /** Gaussian smoothing width. @defaultValue 1% of the node range (max − min over all probes), or
   *  1% of max(|node|, 1) when all nodes coincide. */
  sigma?: number;
  /** Grid margin beyond the extreme nodes; 5σ leaves < 6e-7 of the mass outside. @defaultValue 5σ */
  padding?: number;
  /** The stream the probes are drawn from, one after another in probe order. @defaultValue createRng(0) */
  rng?: Rng;
  /** Called after each probe; may be async, and may throw to cancel. */
  onProbe?: (completed: number, total: number) => void | Promise<void>;
}

export interface QuadratureRule {
  /** Ritz values, ascending. */
  nodes: Float64Array;
  /** Squared first components of the Ritz vectors of T; they sum to 1. */
  weights: Float64Array;
}

export interface SpectralDensity {
  probes: QuadratureRule[];
  /** Equally spaced, from min node − padding to max node + padding. */
  grid: Float64Array;
  /** φ on the grid; integrates to ≈ 1. */
  density: Float64Array;
  sigma: number;
}

/**
 * Estimates the spectral density of the symmetric operator `op` by stochastic Lanczos quadrature.
 *
 * @throws EngineError('invalid_method') for invalid probes, steps, gridPoints, sigma or padding.
 * @throws whatever `op.matvec` or `onProbe` throws (e.g. cancellation).
 */
export async function stochasticLanczosQuadrature(
  op: LinearOperator,
  options: SlqOptions = {},
): Promise<SpectralDensity> {
  const n = op.size;
  const probeCount = checkInteger('probes', options.probes ?? 8, 1);
  const steps = Math.min(n, checkInteger('steps', options.steps ?? 60, 1));
  const gridPoints = checkInteger('gridPoints', options.gridPoints ?? 400, 2);
  const rng = options.rng ?? createRng(0);
  // Checked before any product, so a bad request fails at once.
  if (options.sigma !== undefined) checkPositive('sigma', options.sigma);
  if (options.padding !== undefined) checkPositive('padding', options.padding, true);

  const range = { start: 0, end: probeCount };
  const draw = () => rng.rademacherVector(n);
  const rules = await quadratureRules(op, range, steps, draw, { onProbe: options.onProbe });
  return {
    probes: rules,
    ...smoothedDensity(rules, { gridPoints, sigma: options.sigma, padding: options.padding }),
  };
}

/**
 * How many SLQ runs of `steps` Lanczos steps go side by side: at most the operator's block size (their products
 * gathered into one block product per step), and at most what keeps their Lanczos bases (steps·n float64 each)
 * within SLQ_WAVE_BYTES together.
 */
export function slqWave(op: LinearOperator, steps: number): number {
  return Math.max(1, Math.min(blockSizeOf(op), Math.floor(SLQ_WAVE_BYTES / (8 * steps * op.size))));
}

/**
 * The Gauss quadrature rules of probes [start, end) after `steps` Lanczos steps each (fewer on a breakdown), probe j
 * starting from `draw(j)` (a Rademacher vector, say; normalized by the Lanczos process). The runs go in waves of
 * {@link slqWave} counted from `start`, side by side within a wave, their products gathered into block products at
 * each step; each draws its start vector in probe order before its first product. A wave's rules depend only on its
 * probes, so a run over any range of whole waves gives the rules a run over all of them gives, bit for bit.
 *
 * @throws whatever `op.matvec` or `onProbe` throws (e.g. cancellation).
 */
export async function quadratureRules(
  op: LinearOperator,
  range: { start: number; end: number },
  steps: number,
  draw: (probe: number) => Float64Array,
  options: { onProbe?: (completed: number, total: number) => void | Promise<void> } = {},
): Promise<QuadratureRule[]> {
  const batched = batchedOperator(op);
  const wave = slqWave(op, steps);
  const total = range.end - range.start;
  let done = 0;
  const rules: QuadratureRule[] = [];
  for (let start = range.start; start < range.end; start += wave) {
    const runs = Array.from({ length: Math.min(wave, range.end - start) }, async (_, j) => {
      const lanczos = new LanczosProcess(batched, draw(start + j));
      while (lanczos.steps < steps) {
        if ((await lanczos.step()) !== 'continue') break;
      }
      const { eigenvalues, rows } = tridiagonalEigenRows(lanczos.alpha, lanczos.offDiagonal(), [0]);
      await options.onProbe?.(++done, total);
      return { nodes: eigenvalues, weights: rows[0].map((s) => s * s) };
    });
    rules.push(...(await Promise.all(runs)));
  }
  return rules;
}

/**
 * The Gaussian-smoothed average of quadrature rules on an equally spaced grid (the module comment's φ), with σ and the
 * grid's padding as {@link SlqOptions} describes them.
 *
 * @throws EngineError('invalid_method') for no rules, or invalid gridPoints, sigma or padding.
 */
export function smoothedDensity(
  rules: readonly QuadratureRule[],
  options: { gridPoints: number; sigma?: number; padding?: number },
): Omit<SpectralDensity, 'probes'> {
  const probeCount = checkInteger('probes', rules.length, 1);
  const gridPoints = checkInteger('gridPoints', options.gridPoints, 2);
  let lo = Infinity;
  let hi = -Infinity;
  for (const { nodes } of rules) {
    lo = Math.min(lo, nodes[0]);
    hi = Math.max(hi, nodes[nodes.length - 1]);
  }
  const range = hi - lo > 0 ? hi - lo : Math.max(Math.abs(hi), 1);
  const sigma = options.sigma === undefined ? 0.01 * range : checkPositive('sigma', options.sigma);
  const padding = options.padding === undefined ? 5 * sigma : checkPositive('padding', options.padding, true);
  const grid = new Float64Array(gridPoints);
  const spacing = (hi - lo + 2 * padding) / (gridPoints - 1);
  for (let g = 0; g < gridPoints; g++) grid[g] = lo - padding + g * spacing;

  const density = new Float64Array(gridPoints);
  const norm = 1 / (probeCount * sigma * Math.sqrt(2 * Math.PI));
  for (const { nodes, weights } of rules) {
    nodes.forEach((node, i) => {
      const w = weights[i] * norm;
      for (let g = 0; g < gridPoints; g++) {
        const z = (grid[g] - node) / sigma;
        density[g] += w * Math.exp(-0.5 * z * z);
      }
    });
  }
  return { grid, density, sigma };
}
