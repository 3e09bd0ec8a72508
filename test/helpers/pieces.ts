/** Split jobs computed in one process: every piece in turn, then combined, as the workers do across processes. */
import assert from 'node:assert/strict';
import { compute, computePiece } from '../../src/engine/compute.js';
import type { ComputeRequest, ComputeResult } from '../../src/contract/types.js';

/** The request computed as `count` pieces, then combined; a request that runs whole comes back from piece 0. */
export async function viaPieces(req: ComputeRequest, count: number): Promise<ComputeResult> {
  const parts = [];
  let whole: ComputeResult | undefined;
  for (let index = 0; index < count; index++) {
    const out = await computePiece(req, { index, count });
    if (out.kind === 'partial') parts.push(out.partial);
    else if (out.kind === 'whole') whole = out.result;
  }
  if (whole) {
    assert.equal(parts.length, 0, 'a whole run has no partial pieces');
    return whole;
  }
  return compute(req, { parts });
}

/** Same artifact names, shapes and bytes, and the same summary. */
export function assertSameArrays(
  a: Pick<ComputeResult, 'arrays' | 'summary'>,
  b: Pick<ComputeResult, 'arrays' | 'summary'>,
  what: string,
): void {
  assert.deepEqual(Object.keys(a.arrays), Object.keys(b.arrays), `${what}: artifact names`);
  for (const [name, array] of Object.entries(a.arrays)) {
    assert.deepEqual(b.arrays[name].shape, array.shape, `${what}: ${name} shape`);
    assert.ok(
      Buffer.from(b.arrays[name].data.buffer).equals(Buffer.from(array.data.buffer)),
      `${what}: ${name} bytes`,
    );
  }
  assert.deepEqual(b.summary, a.summary, `${what}: summary`);
}

/** Same artifact names, shapes and bytes, same summary and verification outcome. */
export function assertSameResult(a: ComputeResult, b: ComputeResult, what: string): void {
  assertSameArrays(a, b, what);
  assert.equal(b.verification.passed, a.verification.passed, `${what}: verification`);
}
