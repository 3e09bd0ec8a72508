/**
 * Nested JSON arrays (`[[0.1, 0.2], [0.3, 0.4]]`) to NdArrays. The nesting must be rectangular and the leaves all
 * numbers or all booleans; errors point at the first offending position, e.g. `inputs[1, 2]`.
 */
import { EngineError } from '../errors.js';
import type { NdArray } from '../ndarray.js';
import { formatPosition, unravelIndex } from './positions.js';

/**
 * The most axes an array may have (numpy's limit before numpy 2). Checked before the elements are walked, so a
 * hostile 100 000-deep nesting is refused instead of overflowing the stack.
 */
const MAX_NDIM = 32;

/** Options for {@link parseJsonArray}. */
export interface JsonArrayOptions {
  /**
   * The dtype numeric leaves are stored as. Integer dtypes require whole numbers in range; float64 keeps the JSON
   * numbers exactly, and integer-looking data stays float unless an integer dtype is asked for.
   * @defaultValue 'float64'
   */
  dtype?: 'float32' | 'float64' | 'int32' | 'int64';
}

/**
 * Converts a parsed JSON value (nested arrays of numbers, or of booleans) to an NdArray in C order.
 * A bare number is a 0-d array; booleans give dtype `bool`.
 *
 * @param value - the parsed JSON.
 * @param name - what the array is called in error messages (e.g. `inputs`).
 * @throws EngineError('invalid_array') for ragged nesting, nesting deeper than 32 axes, non-numeric leaves (null,
 *   strings, objects), a mix of numbers and booleans, or (with an integer dtype) a value that is not a whole number
 *   in range.
 */
export function parseJsonArray(value: unknown, name: string, options: JsonArrayOptions = {}): NdArray {
  const shape = inferShape(value, name);
  const leaves: unknown[] = [];
  collect(value, shape, 0, new Array<number>(shape.length).fill(0), name, leaves);

  const firstLeaf = leaves[0];
  if (typeof firstLeaf === 'boolean') {
    const data = new Uint8Array(leaves.length);
    leaves.forEach((leaf, i) => {
      if (typeof leaf !== 'boolean') mixed(name, shape, i, leaf, firstLeaf);
      data[i] = leaf ? 1 : 0;
    });
    return { dtype: 'bool', shape, data };
  }
  leaves.forEach((leaf, i) => {
    if (typeof leaf !== 'number') mixed(name, shape, i, leaf, firstLeaf);
  });
  return toDtype(leaves as number[], shape, name, options.dtype ?? 'float64');
}

/**
 * The shape the first element along each axis implies; `collect` then checks every element agrees, recursing once
 * per axis, so capping the axes here bounds its depth (an element nested deeper than this shape is ragged).
 */
function inferShape(value: unknown, name: string): number[] {
  const shape: number[] = [];
  let cursor = value;
  while (Array.isArray(cursor)) {
    if (shape.length === MAX_NDIM) {
      fail(
        name,
        `${name} is nested more than ${MAX_NDIM} levels deep; an array may have at most ${MAX_NDIM} axes`,
      );
    }
    shape.push(cursor.length);
    if (cursor.length === 0) break;
    cursor = cursor[0];
  }
  return shape;
}

/**
 * Appends the leaves under `value` to `out` in C order. `index` is one buffer shared by the whole walk: its first
 * `depth` entries are the position of `value`, and a copy is made only for an error message.
 */
function collect(
  value: unknown,
  shape: number[],
  depth: number,
  index: number[],
  name: string,
  out: unknown[],
): void {
  if (depth === shape.length) {
    if (Array.isArray(value)) {
      fail(
        name,
        `${positionText(name, index, depth)} is an array, but ${siblingText(name, depth)} is not: the nesting is ragged`,
      );
    }
    if (typeof value !== 'number' && typeof value !== 'boolean') {
      fail(
        name,
        `${positionText(name, index, depth)} is ${describe(value)}; only numbers (or booleans) are allowed`,
      );
    }
    out.push(value);
    return;
  }
  if (!Array.isArray(value)) {
    fail(
      name,
      `${positionText(name, index, depth)} is ${describe(value)}, but ${siblingText(name, depth)} is an array: the nesting is ragged`,
    );
  }
  if (value.length !== shape[depth]) {
    fail(
      name,
      `${positionText(name, index, depth)} has length ${value.length} but ${siblingText(name, depth)} has length ${shape[depth]}: the nesting is ragged (every row must have the same length)`,
      { index: index.slice(0, depth) },
    );
  }
  for (let i = 0; i < value.length; i++) {
    index[depth] = i;
    collect(value[i], shape, depth + 1, index, name, out);
  }
}

function toDtype(
  values: number[],
  shape: number[],
  name: string,
  dtype: NonNullable<JsonArrayOptions['dtype']>,
): NdArray {
  if (dtype === 'float32') return { dtype, shape, data: Float32Array.from(values) };
  if (dtype === 'float64') return { dtype, shape, data: Float64Array.from(values) };
  const [min, max] =
    dtype === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      fail(
        name,
        `${formatPosition(name, unravelIndex(i, shape))} is ${v}; expected a whole number for ${dtype}`,
      );
    }
  });
  return dtype === 'int32'
    ? { dtype, shape, data: Int32Array.from(values) }
    : { dtype, shape, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function mixed(name: string, shape: number[], flat: number, leaf: unknown, first: unknown): never {
  fail(
    name,
    `${formatPosition(name, unravelIndex(flat, shape))} is ${describe(leaf)} but ${formatPosition(
      name,
      shape.map(() => 0),
    )} is ${describe(first)}: an array must be all numbers or all booleans`,
  );
}

function fail(name: string, message: string, details: Record<string, unknown> = {}): never {
  throw new EngineError('invalid_array', message, { array: name, ...details });
}

/** The position of the element `collect` is at, from the first `depth` entries of its shared index. */
function positionText(name: string, index: number[], depth: number): string {
  return formatPosition(name, index.slice(0, depth));
}

/** The element at the same depth along the first row, which fixed the expected shape. */
function siblingText(name: string, depth: number): string {
  return formatPosition(name, new Array<number>(depth).fill(0));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return `a string (${JSON.stringify(value.length > 20 ? value.slice(0, 20) + '…' : value)})`;
  if (typeof value === 'boolean') return `a boolean (${value})`;
  if (typeof value === 'number') return `a number (${value})`;
  if (Array.isArray(value)) return 'an array';
  if (value === undefined) return 'missing';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
