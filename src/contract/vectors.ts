import { EngineError } from './errors.js';
import { toFloat64, type NdArray } from './ndarray.js';

/**
 * The k vectors of length P a product or solve applies to: a k×P (or P) array from the request, else inline rows.
 * @throws EngineError('invalid_method') when missing or of the wrong length.
 */
export function requestVectors(
  method: string,
  numParams: number,
  array: NdArray | undefined,
  inline: number[][] | undefined,
): Float64Array[] {
  let rows: Float64Array[];
  if (array) {
    const flat = toFloat64(array);
    const k = array.shape.length === 1 ? 1 : array.shape[0];
    const width = array.shape.length === 1 ? array.shape[0] : flat.length / Math.max(k, 1);
    if (array.shape.length > 2 || width !== numParams) {
      throw new EngineError(
        'invalid_method',
        `${method} vectors have shape [${array.shape.join(', ')}]; expected [k, ${numParams}] (k vectors of length P = ${numParams}).`,
      );
    }
    rows = Array.from({ length: k }, (_, i) => flat.slice(i * width, (i + 1) * width));
  } else if (inline) {
    const bad = inline.findIndex((r) => r.length !== numParams);
    if (bad >= 0) {
      throw new EngineError(
        'invalid_method',
        `${method} vector ${bad} has length ${inline[bad].length}; expected P = ${numParams}.`,
      );
    }
    rows = inline.map((r) => Float64Array.from(r));
  } else {
    throw new EngineError(
      'invalid_method',
      `${method} needs vectors: k rows of length P = ${numParams} (method.vectors, or a k×P .npy).`,
    );
  }
  for (const [i, row] of rows.entries()) {
    const j = row.findIndex((x) => !Number.isFinite(x));
    if (j >= 0) throw new EngineError('invalid_method', `${method} vectors[${i}, ${j}] is not finite.`);
  }
  return rows;
}

/** Stacks rows into one row-major float32 array. */
export function stackRows(rows: Float64Array[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
}
