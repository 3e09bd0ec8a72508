/**
 * A batch's inputs or targets: one array (a single-input model's inputs, a single-output model's targets) or several
 * arrays keyed by the model's input or output layer names.
 */
import { EngineError } from '../errors.js';
import type { NdArray } from '../ndarray.js';

export type NamedArrays = ReadonlyMap<string, NdArray>;
export type ArrayGroup = NdArray | NamedArrays;

export const isNamed = (group: ArrayGroup): group is NamedArrays => group instanceof Map;

/** `inputs` for a single array, `inputs.<name>` for a named one: how messages and uploads name an array. */
export const arrayLabel = (what: string, name: string | undefined) =>
  name === undefined ? what : `${what}.${name}`;

/**
 * Matches a group to the model's input (or output) names: a single array serves a model with one; named arrays
 * must cover every name, with no extra ones.
 * @returns the arrays in the model's order, with their labels for messages
 * @throws EngineError('invalid_batch') saying which arrays to send
 */
export function arraysFor(
  group: ArrayGroup,
  names: readonly string[],
  what: 'inputs' | 'targets',
): { array: NdArray; label: string }[] {
  const role = what === 'inputs' ? 'input' : 'output';
  const wanted = names.map((n) => JSON.stringify(n)).join(', ');
  const how = `one array per ${role}, keyed by name (${names.map((n) => `${what}.${n}`).join(', ')} as upload parts or .npz keys)`;
  if (!isNamed(group)) {
    if (names.length === 1) return [{ array: group, label: what }];
    throw new EngineError(
      'invalid_batch',
      `The model has ${names.length} ${role}s (${wanted}) but ${what} is a single array; send ${how}.`,
      { array: what, expected: names },
    );
  }
  const missing = names.filter((n) => !group.has(n));
  const extra = [...group.keys()].filter((n) => !names.includes(n));
  if (names.length === 1 && group.size === 1 && missing.length === 1) {
    // A single keyed array for a single-input model: its key doesn't matter.
    return [{ array: [...group.values()][0], label: what }];
  }
  if (missing.length > 0 || extra.length > 0) {
    const problems = [
      missing.length > 0 ? `no array for ${missing.map((n) => JSON.stringify(n)).join(', ')}` : '',
      extra.length > 0
        ? `${extra
            .slice(0, 10)
            .map((n) => JSON.stringify(n))
            .join(', ')} ${extra.length === 1 ? 'is' : 'are'} not ${role} names of the model`
        : '',
    ].filter(Boolean);
    throw new EngineError(
      'invalid_batch',
      `${what}: ${problems.join('; ')}. The model's ${role}s are ${wanted}; send ${how}.`,
      { array: what, expected: names, missing, extra: extra.slice(0, 10) },
    );
  }
  return names.map((n) => ({ array: group.get(n)!, label: arrayLabel(what, n) }));
}

/** The lenient form of `arraysFor`: the per-example shapes it would give, or undefined where it would refuse. */
export function exampleShapesFor(group: ArrayGroup, names: readonly string[]): number[][] | undefined {
  try {
    return arraysFor(group, names, 'inputs').map(({ array }) => array.shape.slice(1));
  } catch {
    return undefined;
  }
}
