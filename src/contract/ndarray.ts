/** A dense n-dimensional array in C (row-major) order, as read from `.npy`/`.npz`/JSON and written as `.npy`. */
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NdArray {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** What the engine writes: float32 results. */
export interface Float32NdArray {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Element `i` of any NdArray as a JS number (int64 converted, exact below 2^53). */
export function elementAt(a: NdArray, i: number): number {
  const v = a.data[i];
  return typeof v === 'bigint' ? Number(v) : (v as number);
}

/** Copies any NdArray's data into a Float64Array. */
export function toFloat64(a: NdArray): Float64Array {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = elementAt(a, i);
  return out;
}
