/**
 * Methods whose work splits into independent pieces (a job's shards, `docs/operations.md` "Sharded jobs"): the
 * columns of a dense matrix or an exact diagonal, the probes of a stochastic estimate, the vectors of a
 * multi-vector product, the runs of SLQ, the columns of finite differences.
 *
 * A split method names its units and the chunk it computes them in (the operator's block size: a block product of
 * k directions; for diagonal_estimate a group of such block products, whose statistics are one row of the piece's
 * result, `diagonal-estimate.ts`). Pieces are whole chunks, so a piece computes exactly the chunks the single run computes, with the
 * same directions side by side; the combined result therefore equals the single run's bit for bit. Stochastic
 * units draw their randomness from (seed, unit index) (`derivedRng`), never from a stream shared across units, so
 * the result does not depend on how many pieces there are either. The single run itself is `finish(run(0, units))`.
 */
import type { PieceSpec } from '../../contract/job.js';
import type { NdArray } from '../../contract/ndarray.js';
import type { MethodName, MethodSpec } from '../../contract/request-schema.js';
import type { Method, MethodContext, MethodOutput } from './method.js';

export type { PieceSpec };

/** How a request splits: `units` of one kind, computed `chunk` at a time. */
export interface UnitPlan {
  /** What one unit is, for logs and the job view: `columns`, `probes`, `vectors`, `runs`. */
  unit: string;
  units: number;
  /** Units computed together; a piece starts at a multiple of it. */
  chunk: number;
}

/**
 * What one piece computed, for units [start, end): JSON values and arrays (float32 or float64) whose leading axis
 * runs over those units, unless the method says otherwise. Travels between processes through storage as `.npy`
 * files and JSON.
 */
export interface PartialResult {
  start: number;
  end: number;
  values: Record<string, unknown>;
  arrays: Record<string, NdArray>;
}

export interface SplitMethod<S extends MethodSpec = MethodSpec> {
  /** How this request splits, or null when it runs whole (a route with no independent units, e.g. the factor). */
  plan(ctx: MethodContext, spec: S): UnitPlan | null;
  /** Units [start, end): start is a multiple of the plan's chunk, end one too or the last unit. */
  run(ctx: MethodContext, spec: S, start: number, end: number): Promise<PartialResult>;
  /** The method's output from every piece's partial result, in unit order, covering [0, units) once. */
  finish(ctx: MethodContext, spec: S, parts: PartialResult[]): Promise<MethodOutput>;
  /**
   * Whether `run`'s arrays are linear in the loss, so that the pieces of disjoint groups of examples combine as
   * their example-weighted sum (a job's datasets spread over workers): true for dense columns, exact diagonals,
   * trace samples and products; false for whatever depends on the whole batch nonlinearly (a Monte-Carlo
   * Fisher's sampled targets, Lanczos, CG, running statistics).
   */
  additive?(ctx: MethodContext, spec: S): boolean;
}

/**
 * The units of piece `index` of `count`: a contiguous run of whole chunks, as even as chunks allow (the last pieces are
 * empty when there are fewer chunks than pieces).
 */
export function pieceRange(plan: UnitPlan, piece: PieceSpec): { start: number; end: number } {
  if (!Number.isInteger(piece.count) || piece.count < 1 || piece.index < 0 || piece.index >= piece.count) {
    throw new RangeError(`invalid piece ${piece.index} of ${piece.count}`);
  }
  const chunks = Math.ceil(plan.units / plan.chunk);
  const first = Math.ceil((piece.index * chunks) / piece.count);
  const last = Math.ceil(((piece.index + 1) * chunks) / piece.count);
  return { start: Math.min(plan.units, first * plan.chunk), end: Math.min(plan.units, last * plan.chunk) };
}

/** Checks that `parts` cover [0, units) in order, once, and returns them sorted; an internal error otherwise. */
export function orderedParts(plan: UnitPlan, parts: readonly PartialResult[]): PartialResult[] {
  const sorted = parts.filter((p) => p.end > p.start).sort((a, b) => a.start - b.start);
  let next = 0;
  for (const p of sorted) {
    if (p.start !== next) break;
    next = p.end;
  }
  if (next !== plan.units) {
    throw new Error(
      `the pieces cover ${sorted.map((p) => `[${p.start}, ${p.end})`).join(' ')} of ${plan.units} ${plan.unit}`,
    );
  }
  return sorted;
}

/**
 * A method that runs a split method whole (one piece covering every unit) when it splits, and `whole` when its
 * plan says it does not.
 */
export function splitOrWhole<S extends MethodSpec>(split: SplitMethod<S>, whole?: Method<S>): Method<S> {
  return async (ctx, spec) => {
    const plan = split.plan(ctx, spec);
    if (!plan) {
      if (!whole) throw new Error('a split method without a plan needs a whole route');
      return whole(ctx, spec);
    }
    return split.finish(ctx, spec, [await split.run(ctx, spec, 0, plan.units)]);
  };
}

/** The split methods by name; a method not here always runs whole. Filled by `compute.ts`. */
export type SplitRegistry = Partial<Record<MethodName, SplitMethod<any>>>;

/** The partial result of units [start, end) that are one float64 value each (diagonal entries, probe values). */
export function valuesPart(start: number, end: number, values: Float64Array): PartialResult {
  return {
    start,
    end,
    values: {},
    arrays: { values: { dtype: 'float64', shape: [end - start], data: values } },
  };
}

/** Rows [start, end) of a k×n float32 array, as the `rows` of a piece. */
export function rowsArray(rows: Float32Array, count: number, n: number): NdArray {
  return { dtype: 'float32', shape: [count, n], data: rows };
}

/** The concatenation of every part's array `name` along its leading axis, as float32 or float64 like the parts. */
export function concatParts(parts: readonly PartialResult[], name: string): Float32Array | Float64Array {
  const arrays = parts.map((p) => {
    const a = p.arrays[name];
    if (!a || (a.dtype !== 'float32' && a.dtype !== 'float64')) {
      throw new Error(`piece [${p.start}, ${p.end}) has no float array ${name}`);
    }
    return a.data as Float32Array | Float64Array;
  });
  const length = arrays.reduce((s, a) => s + a.length, 0);
  const out = arrays[0] instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

/**
 * Whether a curvature's products are sums over examples that pieces of disjoint examples can add: all but the
 * Monte-Carlo Fisher, whose targets are sampled from one stream over the whole batch.
 */
export function additiveCurvature(curvature: string, spec: { fisherType?: string }): boolean {
  return curvature !== 'fisher' || spec.fisherType === 'empirical';
}
