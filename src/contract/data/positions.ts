/** Naming an element of an array in error messages, as a user would index it in NumPy: `inputs[3, 0, 2]`. */

/** The C-order multi-index of flat element `flat` in an array of `shape`. */
export function unravelIndex(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    index[axis] = flat % shape[axis];
    flat = Math.floor(flat / shape[axis]);
  }
  return index;
}

/** `inputs[1, 2]`, or just `inputs` for a 0-d position. */
export function formatPosition(name: string, index: readonly number[]): string {
  return index.length ? `${name}[${index.join(', ')}]` : name;
}

/** `[8, null, 3]`: a shape as the messages print it (null for a model's free dimensions). */
export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'null' : String(d))).join(', ')}]`;
}
