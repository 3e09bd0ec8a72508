/**
 * How many pieces a job runs as (`execution.shards`), decided by the API before queuing from what it knows without
 * the model's tensors: the method's independent units (columns, probes, vectors, SLQ runs) and the live workers.
 * The engine has the last word: a route without independent units (the factor route of a Dense chain, the
 * explicit Jacobian) runs whole in the first piece (`engine/methods/split.ts`).
 */
import type { NormalizedMethodSpec } from './request.js';

/** Pieces one job may ask for. */
export const MAX_SHARDS = 64;
/** `auto` uses at most this many pieces, however many workers are alive. */
export const MAX_AUTO_SHARDS = 16;
/** `auto` gives each piece at least this many units (a block product carries up to 32 directions). */
export const AUTO_MIN_UNITS_PER_SHARD = 32;

/**
 * The independent units of a request's method, or null when it never splits (eigen, Hutch++; a single product).
 * Columns for dense results, exact diagonals and finite differences; probes for the Hutchinson
 * estimators and SLQ; vectors for products and solves.
 */
export function splitUnits(method: NormalizedMethodSpec, numParams: number, vectors: number): number | null {
  switch (method.name) {
    case 'hessian':
    case 'ggn':
    case 'fisher':
    case 'diagonal':
    case 'finite_difference':
      return numParams;
    case 'trace':
      return method.estimator === 'exact'
        ? numParams
        : method.estimator === 'hutchinson'
          ? method.probes
          : null;
    case 'diagonal_estimate':
    case 'density':
      return method.probes;
    case 'hvp':
    case 'ggnvp':
    case 'fvp':
    case 'inverse_hvp':
      return vectors > 1 ? vectors : null;
    case 'kfac':
      // One unit, the factors: spread only over groups of datasets (`splitsByDataset`).
      return 1;
    default:
      return null;
  }
}

/**
 * The pieces a job runs as: 1 when its method does not split; otherwise the request's number (at most one per unit
 * and group of datasets: `datasets` is the number of datasets the pieces may spread over, 1 when they may not), or
 * for `auto` about one per live worker slot, at most {@link MAX_AUTO_SHARDS} and with at least
 * {@link AUTO_MIN_UNITS_PER_SHARD} units each within a dataset (1 when only one slot is alive).
 */
export function resolveShards(
  requested: number | 'auto',
  units: number | null,
  workerSlots: number,
  datasets = 1,
): number {
  if (units === null || units * datasets < 2) return 1;
  if (requested !== 'auto') return Math.max(1, Math.min(requested, units * datasets));
  const byUnits = Math.max(datasets > 1 ? 1 : 0, Math.floor(units / AUTO_MIN_UNITS_PER_SHARD)) * datasets;
  return Math.max(1, Math.min(workerSlots, MAX_AUTO_SHARDS, byUnits));
}

/**
 * Whether a method's pieces over disjoint groups of examples add up to its pieces over all of them (the engine's
 * `SplitMethod.additive`): dense columns, exact diagonals, exact and Hutchinson traces, products, KFAC's exact
 * factors. Not the
 * Monte-Carlo Fisher (one stream of sampled targets over the batch), nor Lanczos, CG, SLQ, finite differences or
 * running statistics. A route without units (the factor route) then runs whole on every dataset.
 */
export function splitsByDataset(method: NormalizedMethodSpec): boolean {
  const m = method as { name: string; curvature?: string; fisherType?: string; estimator?: string };
  const curvature = m.name === 'fisher' || m.name === 'fvp' ? 'fisher' : (m.curvature ?? 'hessian');
  if (curvature === 'fisher' && m.fisherType !== 'empirical') return false;
  switch (m.name) {
    case 'hessian':
    case 'ggn':
    case 'fisher':
    case 'diagonal':
    case 'hvp':
    case 'ggnvp':
    case 'fvp':
      return true;
    case 'trace':
      return m.estimator === 'exact' || m.estimator === 'hutchinson';
    case 'kfac':
      // Its factors are means over examples; the Monte-Carlo B samples targets from one stream over the batch.
      return (m as { type?: string }).type !== 'mc';
    default:
      return false;
  }
}

/**
 * Dataset groups and unit pieces of a job of `shards` pieces over `datasets` datasets: as many groups as datasets
 * allow (at most `shards`), the rest of the shards splitting units within each group; shards = groups × pieces.
 */
export function dataGroupsOf(
  shards: number,
  datasets: number,
  byDataset: boolean,
): { groups: number; shards: number } {
  if (!byDataset || datasets < 2 || shards < 2) return { groups: 1, shards };
  const groups = Math.min(datasets, shards);
  return { groups, shards: groups * Math.floor(shards / groups) };
}
