/**
 * Several uploaded datasets as one batch (a job's `datasetIds`): their examples concatenated in the order given, so
 * that a curvature with `reduction: mean` is the example-weighted mean over the datasets (and with `sum`, their sum).
 * Each array keeps its dtype; every dataset must have the same arrays with the same dtype and per-example shape.
 */
import { EngineError } from '../errors.js';
import { sizeOf, type DType, type NdArray, type TypedArray } from '../ndarray.js';
import { arrayLabel, isNamed, type ArrayGroup } from './array-group.js';

export interface Batch {
  inputs: ArrayGroup;
  targets: ArrayGroup;
}

const CONSTRUCTORS: Record<DType, new (n: number) => TypedArray> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** The arrays of a group by name (`undefined` for a single array). */
function entries(group: ArrayGroup): [string | undefined, NdArray][] {
  return isNamed(group) ? [...group.entries()] : [[undefined, group]];
}

function concatArrays(arrays: NdArray[], label: string, ids: readonly string[]): NdArray {
  const [first] = arrays;
  const rest = first.shape.slice(1);
  arrays.forEach((a, i) => {
    if (a.shape.length === 0) {
      throw new EngineError(
        'invalid_batch',
        `${label} of dataset ${ids[i]} is a scalar; it needs an example axis.`,
      );
    }
    const same = a.dtype === first.dtype && a.shape.length === first.shape.length;
    if (!same || a.shape.slice(1).some((d, j) => d !== rest[j])) {
      throw new EngineError(
        'invalid_batch',
        `Datasets given together must agree example by example: ${label} of dataset ${ids[i]} is ${a.dtype} ` +
          `[${a.shape.join(', ')}], but in dataset ${ids[0]} it is ${first.dtype} [${first.shape.join(', ')}]; ` +
          'only the first (example) axis may differ.',
        { array: label, dataset: ids[i], shape: a.shape, expected: ['*', ...rest] },
      );
    }
  });
  const examples = arrays.reduce((n, a) => n + a.shape[0], 0);
  const data = new CONSTRUCTORS[first.dtype](examples * sizeOf(rest));
  let offset = 0;
  for (const a of arrays) {
    (data as Float32Array).set(a.data as Float32Array, offset);
    offset += a.data.length;
  }
  return { dtype: first.dtype, shape: [examples, ...rest], data };
}

function concatGroups(groups: ArrayGroup[], what: 'inputs' | 'targets', ids: readonly string[]): ArrayGroup {
  const names = entries(groups[0]).map(([name]) => name);
  groups.forEach((g, i) => {
    const these = entries(g).map(([name]) => name);
    if (
      isNamed(g) !== isNamed(groups[0]) ||
      these.length !== names.length ||
      these.some((n) => !names.includes(n))
    ) {
      const show = (list: (string | undefined)[]) => list.map((n) => arrayLabel(what, n)).join(', ');
      throw new EngineError(
        'invalid_batch',
        `Datasets given together must have the same arrays: dataset ${ids[i]} has ${show(these)}, dataset ` +
          `${ids[0]} has ${show(names)}.`,
        { dataset: ids[i], arrays: these, expected: names },
      );
    }
  });
  const joined = names.map((name) => {
    const arrays = groups.map((g) =>
      name === undefined ? (g as NdArray) : (g as ReadonlyMap<string, NdArray>).get(name)!,
    );
    return [name, concatArrays(arrays, arrayLabel(what, name), ids)] as const;
  });
  return joined[0][0] === undefined ? joined[0][1] : new Map(joined as [string, NdArray][]);
}

/**
 * One batch from several, examples in the order given.
 * @param ids the datasets' ids, for messages
 * @throws EngineError('invalid_batch') naming the dataset and array that do not fit
 */
export function concatBatches(batches: readonly Batch[], ids: readonly string[]): Batch {
  if (batches.length === 1) return batches[0];
  return {
    inputs: concatGroups(
      batches.map((b) => b.inputs),
      'inputs',
      ids,
    ),
    targets: concatGroups(
      batches.map((b) => b.targets),
      'targets',
      ids,
    ),
  };
}
