import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  decodeArrayFile,
  decodeBatchFile,
  decodeBatchFromFiles,
  decodeBatchFromJson,
  decodeBatchFromNpz,
} from '../../../src/contract/data/decode.js';
import { assertEngineError } from '../../helpers/engine-error.js';
import type { NdArray } from '../../../src/contract/ndarray.js';

/** Fixtures written by real numpy: see test/fixtures/npy/generate.py and test/fixtures/npz/generate.py. */
const fixture = (path: string) =>
  new Uint8Array(readFileSync(new URL(`../../fixtures/${path}`, import.meta.url)));
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('decodeArrayFile', () => {
  it('decodes by extension: .npy, .json and a one-array .npz', () => {
    assert.deepEqual(decodeArrayFile(fixture('npy/float32_2x3.npy'), 'x.npy').shape, [2, 3]);
    assert.deepEqual(decodeArrayFile(json([[1, 2]]), 'x.json').shape, [1, 2]);
    assert.deepEqual(decodeArrayFile(fixture('npz/single_vectors.npz'), 'v.npz').shape, [3, 3]);
  });

  it('sniffs the content when the extension is unknown', () => {
    assert.equal(decodeArrayFile(fixture('npy/int64_3.npy'), 'upload').dtype, 'int64');
    assert.deepEqual(decodeArrayFile(fixture('npz/single_vectors.npz'), 'blob.bin').shape, [3, 3]);
    assert.deepEqual(decodeArrayFile(json([0.5, 1]), 'data.txt').shape, [2]);
  });

  it('rejects unrecognised content, naming the file', () => {
    assertEngineError(
      () => decodeArrayFile(new TextEncoder().encode('a,b\n1,2'), 'x.csv'),
      'invalid_array',
      /^x\.csv: unrecognised file format/,
    );
  });

  it('rejects an .npz with several arrays, listing them', () => {
    assertEngineError(
      () => decodeArrayFile(fixture('npz/stored_inputs_targets.npz'), 'v.npz'),
      'invalid_array',
      /found 2 \('inputs', 'targets'\)/,
    );
  });

  it('rejects invalid JSON and JSON objects', () => {
    assertEngineError(
      () => decodeArrayFile(new TextEncoder().encode('[1, 2'), 'x.json'),
      'invalid_array',
      /not valid JSON/,
    );
    assertEngineError(
      () => decodeArrayFile(json({ a: [1] }), 'x.json'),
      'invalid_array',
      /JSON object \(keys 'a'\)/,
    );
  });

  it('passes the requested dtype to JSON arrays', () => {
    assert.equal(decodeArrayFile(json([1, 2]), 'y.json', { dtype: 'int32' }).dtype, 'int32');
  });
});

describe('decodeBatch helpers', () => {
  it('reads inputs/targets or x/y from an .npz', () => {
    const a = decodeBatchFromNpz(fixture('npz/deflated_inputs_targets.npz'));
    assert.deepEqual((a.inputs as NdArray).shape, [4, 3]);
    assert.deepEqual((a.targets as NdArray).shape, [4]);
    const b = decodeBatchFromNpz(fixture('npz/deflated_x_y.npz'));
    assert.equal((b.inputs as NdArray).dtype, 'float64');
    assert.equal((b.targets as NdArray).dtype, 'int32');
  });

  it('lists the arrays found when inputs/targets are missing', () => {
    assertEngineError(
      () => decodeBatchFromNpz(fixture('npz/features_labels.npz'), 'batch.npz'),
      'invalid_batch',
      /^batch\.npz: expected arrays named 'inputs' and 'targets' \(or 'x' and 'y'\), found '(features|labels)', '(features|labels)'/,
    );
    assertEngineError(() => decodeBatchFromNpz(fixture('npz/positional.npz')), 'invalid_batch', /'arr_0'/);
  });

  it('reads a batch from two files', () => {
    const batch = decodeBatchFromFiles(
      { bytes: fixture('npy/float32_2x3.npy'), filename: 'x.npy' },
      { bytes: json([1, 0]), filename: 'y.json' },
    );
    assert.deepEqual((batch.inputs as NdArray).shape, [2, 3]);
    assert.deepEqual((batch.targets as NdArray).shape, [2]);
  });

  it('reads a batch from a JSON object', () => {
    const batch = decodeBatchFromJson({ inputs: [[1, 2]], targets: [[0]] });
    assert.deepEqual((batch.inputs as NdArray).shape, [1, 2]);
    assert.deepEqual((batch.targets as NdArray).shape, [1, 1]);
    assert.deepEqual((decodeBatchFromJson({ x: [1], y: [2] }).inputs as NdArray).shape, [1]);
  });

  it('rejects JSON that is not an object with the two arrays', () => {
    assertEngineError(
      () => decodeBatchFromJson([[1]], 'body'),
      'invalid_batch',
      /^body: expected a JSON object.*got an array/,
    );
    assertEngineError(() => decodeBatchFromJson({ inputs: [1] }), 'invalid_batch', /found 'inputs'/);
    assertEngineError(() => decodeBatchFromJson({}), 'invalid_batch', /found none/);
  });

  it('names positions inside JSON batches by array name', () => {
    assertEngineError(
      () => decodeBatchFromJson({ x: [[1, 2], [3]], y: [0, 1] }),
      'invalid_array',
      /^x\[1\] has length 1 but x\[0\] has length 2/,
    );
  });

  it('reads a one-file batch from .npz or .json and refuses a single .npy', () => {
    assert.deepEqual(
      (decodeBatchFile(fixture('npz/stored_inputs_targets.npz'), 'b.npz').inputs as NdArray).shape,
      [4, 3],
    );
    assert.deepEqual(
      (decodeBatchFile(json({ inputs: [[1]], targets: [1] }), 'b.json').targets as NdArray).shape,
      [1],
    );
    assertEngineError(
      () => decodeBatchFile(fixture('npy/float32_2x3.npy'), 'b.npy'),
      'invalid_batch',
      /a \.npy file holds one array.*np\.savez\(f, inputs=x, targets=y\)/,
    );
  });
});
