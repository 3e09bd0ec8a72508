/**
 * How many pieces a job runs as, and how pieces over groups of datasets add up: the API's decisions
 * (`contract/sharding.ts`) and the worker's weights and sums (`queue/processor.ts`). Exact arithmetic on small
 * numbers (tolerance 0), except the float32 round trip (1e-7 relative).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeNpy } from '../../../src/contract/data/npy.js';
import { datasetGroup, type PieceReport } from '../../../src/contract/job.js';
import type { NormalizedMethodSpec } from '../../../src/contract/request.js';
import { methodSpecSchema } from '../../../src/contract/request-schema.js';
import {
  dataGroupsOf,
  MAX_AUTO_SHARDS,
  resolveShards,
  splitsByDataset,
  splitUnits,
} from '../../../src/contract/sharding.js';
import { combineGroups, groupShare } from '../../../src/queue/processor.js';

/** A method spec as the schema parses it (the unit counts need no P-dependent defaults). */
const normalizeMethodForTest = (m: unknown) => methodSpecSchema.parse(m) as NormalizedMethodSpec;

describe('resolveShards', () => {
  it('runs a method without units as one job, whatever is asked', () => {
    assert.equal(resolveShards(8, null, 4), 1);
    assert.equal(resolveShards('auto', null, 4), 1);
    assert.equal(resolveShards(8, 1, 4), 1, 'one unit cannot split');
  });
  it('honours an explicit count, at most one piece per unit', () => {
    assert.equal(resolveShards(4, 195, 1), 4, 'even with one live worker: asked for');
    assert.equal(resolveShards(64, 10, 2), 10);
  });
  it('auto: about one per live worker slot, at most 16, with 32 units or more each', () => {
    assert.equal(resolveShards('auto', 2410, 1), 1, 'one worker: as before');
    assert.equal(resolveShards('auto', 2410, 2), 2);
    assert.equal(resolveShards('auto', 100_000, 64), MAX_AUTO_SHARDS);
    assert.equal(resolveShards('auto', 40, 4), 1, '40 units: one piece of 32 or more');
    assert.equal(resolveShards('auto', 96, 4), 3);
    assert.equal(resolveShards('auto', 2410, 0), 1, 'no worker yet: one piece, queued');
  });
  it('counts groups of datasets as room for pieces', () => {
    assert.equal(resolveShards(4, 1, 2, 3), 3, "KFAC's one unit over three datasets: three pieces at most");
    assert.equal(resolveShards('auto', 1, 2, 3), 2, 'auto: one per slot');
    assert.equal(
      resolveShards('auto', 40, 8, 2),
      2,
      'fewer than 32 units a piece within a dataset: one per group',
    );
    assert.equal(resolveShards(8, 1, 2, 1), 1, 'one unit, one dataset');
  });
});

describe('dataset groups', () => {
  it('gives each group a contiguous run of datasets, covering each once', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    for (let count = 1; count <= 5; count++) {
      const groups = Array.from({ length: count }, (_, index) => datasetGroup(ids, { index, count }));
      assert.deepEqual(groups.flat(), ids);
      assert.ok(groups.every((g) => g.length >= 1));
    }
  });
  it('uses as many groups as datasets allow, shards = groups × pieces per group', () => {
    assert.deepEqual(dataGroupsOf(4, 3, true), { groups: 3, shards: 3 });
    assert.deepEqual(dataGroupsOf(6, 3, true), { groups: 3, shards: 6 });
    assert.deepEqual(dataGroupsOf(8, 2, true), { groups: 2, shards: 8 });
    assert.deepEqual(dataGroupsOf(4, 1, true), { groups: 1, shards: 4 }, 'one dataset');
    assert.deepEqual(dataGroupsOf(4, 3, false), { groups: 1, shards: 4 }, 'byDataset: false');
    assert.deepEqual(dataGroupsOf(1, 3, true), { groups: 1, shards: 1 });
  });
  it('spreads datasets only for methods that add over examples', () => {
    const yes = [
      { name: 'hessian' },
      { name: 'ggn' },
      { name: 'diagonal', curvature: 'ggn' },
      { name: 'trace', estimator: 'hutchinson' },
      { name: 'trace', estimator: 'exact' },
      { name: 'hvp' },
      { name: 'fisher', fisherType: 'empirical' },
      { name: 'fvp', fisherType: 'empirical' },
      { name: 'kfac' },
    ];
    const no = [
      { name: 'fisher' },
      { name: 'fvp', fisherType: 'mc' },
      { name: 'diagonal', curvature: 'fisher' },
      { name: 'trace', estimator: 'hutchpp' },
      { name: 'diagonal_estimate' },
      { name: 'density' },
      { name: 'eigen' },
      { name: 'inverse_hvp' },
      { name: 'finite_difference' },
      { name: 'kfac', type: 'mc' },
    ];
    for (const m of yes) assert.equal(splitsByDataset(normalizeMethodForTest(m)), true, JSON.stringify(m));
    for (const m of no) assert.equal(splitsByDataset(normalizeMethodForTest(m)), false, JSON.stringify(m));
  });
  it('counts the units of each method', () => {
    assert.equal(splitUnits(normalizeMethodForTest({ name: 'hessian' }), 195, 0), 195);
    assert.equal(
      splitUnits(normalizeMethodForTest({ name: 'trace', estimator: 'hutchinson', probes: 90 }), 195, 0),
      90,
    );
    assert.equal(splitUnits(normalizeMethodForTest({ name: 'trace' }), 195, 0), null, 'Hutch++');
    assert.equal(splitUnits(normalizeMethodForTest({ name: 'hvp' }), 195, 1), null, 'one product');
    assert.equal(splitUnits(normalizeMethodForTest({ name: 'hvp' }), 195, 7), 7);
    assert.equal(splitUnits(normalizeMethodForTest({ name: 'eigen' }), 195, 0), null);
    assert.equal(splitUnits(normalizeMethodForTest({ name: 'kfac' }), 195, 0), 1, 'the factors');
  });
});

describe('groups of examples add up to the job', () => {
  const loss = { name: 'mean_squared_error', reduction: 'mean', l2: 0.3 } as any;
  it('weights a mean by the share of examples and gives l2 to the first group once', () => {
    const examples = [1, 1, 2];
    const shares = [0, 1, 2].map((index) => groupShare(loss, examples, { index, count: 3 }));
    assert.deepEqual(
      shares.map((s) => s.weight),
      [0.25, 0.25, 0.5],
    );
    assert.deepEqual(
      shares.map((s) => s.loss.l2),
      [1.2, 0, 0],
      'l2 / weight on the first group: weight × (l2 / weight) = l2',
    );
    assert.deepEqual(
      shares.map((s) => s.examples),
      [1, 1, 2],
    );
    const sum = groupShare({ ...loss, reduction: 'sum' }, examples, { index: 1, count: 2 });
    assert.equal(sum.weight, 1, 'a sum over examples adds with weight 1');
    assert.equal(sum.examples, 3);
  });

  it('sums the pieces of a unit range over groups with their weights, in unit order', async () => {
    const files = new Map<string, Uint8Array>();
    const piece = (
      index: number,
      start: number,
      end: number,
      group: number,
      weight: number,
      values: number[],
    ) => {
      const name = `pieces/${index}/rows.npy`;
      files.set(
        name,
        encodeNpy({ dtype: 'float32', shape: [values.length], data: Float32Array.from(values) }),
      );
      return {
        kind: 'partial',
        index,
        start,
        end,
        unit: 'columns',
        units: 4,
        seconds: 0,
        values: {},
        files: [{ array: 'rows', name }],
        data: { index: group, count: 2, examples: 1, weight },
      } satisfies PieceReport;
    };
    const parts = await combineGroups(
      [
        piece(3, 2, 4, 1, 0.75, [10, 20]),
        piece(0, 0, 2, 0, 0.25, [1, 2]),
        piece(2, 2, 4, 0, 0.25, [4, 8]),
        piece(1, 0, 2, 1, 0.75, [3, 5]),
        { kind: 'empty', index: 4 },
      ],
      async (name) => files.get(name)!,
    );
    const ranges = parts.map((p) => [p.start, p.end]).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(ranges, [
      [0, 2],
      [2, 4],
    ]);
    const byStart = new Map(parts.map((p) => [p.start, Array.from(p.arrays.rows.data as Float32Array)]));
    assert.deepEqual(byStart.get(0), [0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 5]);
    assert.deepEqual(byStart.get(2), [0.25 * 4 + 0.75 * 10, 0.25 * 8 + 0.75 * 20]);
    assert.equal(parts[0].arrays.rows.dtype, 'float32', 'stored back in the pieces dtype');
  });
});
