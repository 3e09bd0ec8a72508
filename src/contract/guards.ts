import { EngineError } from './errors.js';

const GiB = 1024 ** 3;

export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.ceil(bytes / 1024)} KiB`;
}

/** Bytes of a dense P×P float32 result. */
export function denseBytes(numParams: number): number {
  return numParams * numParams * 4;
}

/**
 * Refuses, before allocating, an array larger than the limit, with the numbers in the message.
 * @throws EngineError('too_large')
 */
export function guardBytes(what: string, bytes: number, limit: number, hint: string): void {
  if (bytes > limit) {
    throw new EngineError(
      'too_large',
      `${what} needs ${formatBytes(bytes)}, above the limit of ${formatBytes(limit)}. ${hint}`,
      { bytes, limit },
    );
  }
}

export function guardDense(numParams: number, limit: number): void {
  guardBytes(
    `A dense ${numParams}×${numParams} float32 matrix`,
    denseBytes(numParams),
    limit,
    // Not "use blocks": a block-diagonal result is still stored as the full P×P matrix.
    'Select fewer parameters (parameters.include), or use an operator method (hvp, diagonal, eigen, trace).',
  );
}

/**
 * Whether the explicit Jacobian (one reverse pass per row, `rows` = N·C) is cheaper than P operator products (3·P
 * passes): the dense GGN and its exact diagonal then assemble from it.
 */
export function prefersExplicitJacobian(rows: number, numParams: number): boolean {
  return rows < numParams;
}

/** Bytes of the explicit Jacobian and H_ℓ·J (both rows × P float32). */
export function jacobianBytes(rows: number, numParams: number): number {
  return 2 * rows * numParams * 4;
}
