import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { encodeNpy } from '../../../src/contract/data/npy.js';
import { parseNpz } from '../../../src/contract/data/npz.js';
import { assertEngineError } from '../../helpers/engine-error.js';

/** Fixtures written by real numpy: see test/fixtures/npz/generate.py. */
const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../fixtures/npz/${name}.npz`, import.meta.url)));

/** (arange(12).reshape(4, 3) / 4 - 1): exact in float32, so comparisons below are exact. */
const INPUTS = Array.from({ length: 12 }, (_, i) => i / 4 - 1);

describe('parseNpz', () => {
  it('reads np.savez (stored, zip64 local headers) archives', () => {
    const arrays = parseNpz(fixture('stored_inputs_targets'));
    assert.deepEqual([...arrays.keys()].sort(), ['inputs', 'targets']);
    const inputs = arrays.get('inputs')!;
    assert.equal(inputs.dtype, 'float32');
    assert.deepEqual(inputs.shape, [4, 3]);
    assert.deepEqual(Array.from(inputs.data as Float32Array), INPUTS);
    const targets = arrays.get('targets')!;
    assert.equal(targets.dtype, 'int64');
    assert.deepEqual(Array.from(targets.data as BigInt64Array), [0n, 2n, 1n, 2n]);
  });

  it('reads np.savez_compressed (deflated) archives', () => {
    const arrays = parseNpz(fixture('deflated_inputs_targets'));
    assert.deepEqual(Array.from(arrays.get('inputs')!.data as Float32Array), INPUTS);
    assert.deepEqual(Array.from(arrays.get('targets')!.data as BigInt64Array), [0n, 2n, 1n, 2n]);

    const xy = parseNpz(fixture('deflated_x_y'));
    assert.equal(xy.get('x')!.dtype, 'float64');
    assert.equal(xy.get('y')!.dtype, 'int32');
  });

  it('keys positional arrays as np.load does (arr_0, arr_1)', () => {
    assert.deepEqual([...parseNpz(fixture('positional')).keys()].sort(), ['arr_0', 'arr_1']);
  });

  it('skips entries that are not .npy files', () => {
    assert.deepEqual([...parseNpz(fixture('with_readme')).keys()], ['inputs']);
  });

  it('reads archives written by other zip tools', () => {
    const a = { dtype: 'float32' as const, shape: [2], data: new Float32Array([1, 2]) };
    const bytes = zipSync({ 'a.npy': encodeNpy(a), '__MACOSX/._a.npy': new Uint8Array(4) }, { level: 6 });
    const arrays = parseNpz(bytes);
    assert.deepEqual([...arrays.keys()], ['a']);
    assert.deepEqual(Array.from(arrays.get('a')!.data as Float32Array), [1, 2]);
  });

  it('rejects a .npy file passed as an .npz', () => {
    const npy = encodeNpy({ dtype: 'float32', shape: [1], data: new Float32Array(1) });
    assertEngineError(
      () => parseNpz(npy, 'batch.npz'),
      'invalid_array',
      /^batch\.npz: this is a single \.npy array/,
    );
  });

  it('rejects bytes that are not a zip archive', () => {
    assertEngineError(
      () => parseNpz(new TextEncoder().encode('hello')),
      'invalid_array',
      /not an \.npz \(zip\)/,
    );
  });

  it('rejects a truncated archive', () => {
    const bytes = fixture('deflated_inputs_targets');
    assertEngineError(
      () => parseNpz(bytes.subarray(0, 200)),
      'invalid_array',
      /not a valid \.npz \(zip\) archive/,
    );
  });

  it('rejects compression methods other than stored and deflate', () => {
    assertEngineError(() => parseNpz(fixture('bzip2')), 'invalid_array', /unknown compression type 12/);
  });

  it('names the entry when an array inside is invalid', () => {
    const bytes = zipSync({ 'inputs.npy': new TextEncoder().encode('not numpy') });
    assertEngineError(
      () => parseNpz(bytes, 'batch.npz'),
      'invalid_array',
      /^batch\.npz: inputs\.npy: not a NumPy/,
    );
  });

  it('refuses archives that expand beyond the size limit before inflating them', () => {
    assertEngineError(
      () => parseNpz(fixture('deflated_inputs_targets'), 'batch.npz', { maxUncompressedBytes: 200 }),
      'too_large',
      /expand to more than 200 bytes/,
    );
  });
});
