/**
 * The preview's numbers (GET /v1/jobs/{id}/preview): block means of a known matrix fed in arbitrary runs, exact
 * histograms of a known vector, per-tensor statistics, curve thinning, eigenvalue marks, and the streaming `.npy`
 * reader over a file cut into awkward chunks (header split, elements split across chunks) and wrong files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeNpy } from '../../../src/contract/data/npy.js';
import {
  BlockMeans,
  eigenvaluesOf,
  histogramOf,
  PerTensorStats,
  thinCurve,
} from '../../../src/api/preview/accumulators.js';
import { computeArtifactPreview, streamFloat32Npy } from '../../../src/api/preview/task.js';
import { LocalArtifactStore } from '../../../src/storage/artifact-store.js';

/** Feeds `values` to `add` in runs of the given lengths (cycled). */
function feed(values: Float32Array, runs: number[], add: (v: Float32Array, first: number) => void): void {
  let at = 0;
  for (let k = 0; at < values.length; k++) {
    const n = Math.min(runs[k % runs.length], values.length - at);
    add(values.subarray(at, at + n), at);
    at += n;
  }
}

describe('BlockMeans (the heat map)', () => {
  it('averages a 4×4 matrix into 2×2 blocks exactly, whatever the runs', () => {
    // H[i][j] = 4i + j: blocks of rows {0,1}/{2,3} and columns {0,1}/{2,3}.
    const m = Float32Array.from({ length: 16 }, (_, k) => k);
    for (const runs of [[16], [1], [3, 5], [7]]) {
      const means = new BlockMeans(4, 2);
      feed(m, runs, (v, first) => means.add(v, first));
      const r = means.result();
      assert.deepEqual(r.values, [2.5, 4.5, 10.5, 12.5], `runs ${runs}`);
      assert.deepEqual([r.rows, r.cols, r.size, r.min, r.max, r.maxAbs], [2, 2, 4, 2.5, 12.5, 15]);
      assert.deepEqual(r.starts, [0, 2, 4]);
    }
  });

  it('splits an uneven size as floor(i·n/P) and keeps the sign (5×5 into 2×2)', () => {
    // Rows 0..2 are bin 0, rows 3..4 bin 1; entries -1 in the top-left 3×3 block, +2 elsewhere.
    const m = new Float32Array(25);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) m[i * 5 + j] = i < 3 && j < 3 ? -1 : 2;
    const means = new BlockMeans(5, 2);
    feed(m, [4], (v, first) => means.add(v, first));
    const r = means.result();
    assert.deepEqual(r.values, [-1, 2, 2, 2]);
    assert.deepEqual(r.starts, [0, 3, 5]);
    assert.equal(r.maxAbs, 2);
  });

  it('keeps a matrix no larger than the grid as it is, and block-averages a 256×256 one to 128×128', () => {
    const small = Float32Array.from([1, -2, -2, 3]);
    const a = new BlockMeans(2, 128);
    a.add(small, 0);
    assert.deepEqual(a.result().values, [1, -2, -2, 3]);

    const n = 256;
    const big = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) big[i * n + j] = i === j ? 4 : 0;
    const b = new BlockMeans(n, 128);
    feed(big, [1000], (v, first) => b.add(v, first));
    const r = b.result();
    assert.equal(r.values.length, 128 * 128);
    // Each diagonal 2×2 block holds two 4s: mean 2; off-diagonal blocks are 0.
    assert.equal(r.values[0], 2);
    assert.equal(r.values[1], 0);
    assert.equal(r.values[129], 2);
    assert.equal(
      r.values.reduce((s, v) => s + v, 0),
      256,
    );
  });

  it('refuses entries out of order or too few', () => {
    const means = new BlockMeans(2, 2);
    assert.throws(() => means.add([1], 1), /in order/);
    means.add([1, 2, 3], 0);
    assert.throws(() => means.result(), /got 3 of 4/);
  });

  it('leaves non-finite entries out of the means and counts them', () => {
    const means = new BlockMeans(2, 1);
    means.add([1, Number.NaN, 3, Infinity], 0);
    const r = means.result();
    assert.deepEqual([r.values, r.nonFinite, r.maxAbs], [[1], 2, 3]);
  });
});

describe('histogramOf (the diagonal)', () => {
  it('counts a known vector into equal bins over [min, max], the maximum in the last bin', () => {
    const h = histogramOf(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 10]), 5);
    assert.deepEqual(h.linear.edges, [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(h.linear.counts, [2, 2, 2, 2, 2]);
    assert.deepEqual([h.count, h.min, h.max, h.zeros, h.nonFinite], [10, 0, 10, 1, 0]);
  });

  it('histograms log10 |d| over the non-zero entries', () => {
    const h = histogramOf([0.001, -0.01, 0.1, 1, 10, 100, 0, Number.NaN], 5);
    assert.deepEqual(h.log10Abs!.edges, [-3, -2, -1, 0, 1, 2]);
    assert.deepEqual(h.log10Abs!.counts, [1, 1, 1, 1, 2]);
    assert.deepEqual(h.linear.counts, [6, 0, 0, 0, 1]);
    assert.deepEqual([h.count, h.nonFinite, h.zeros], [7, 1, 1]);
  });

  it('gives a constant vector a unit-wide range, and an all-zero one no log histogram', () => {
    const h = histogramOf([3, 3, 3], 2);
    assert.deepEqual(h.linear.edges, [2.5, 3, 3.5]);
    assert.deepEqual(h.linear.counts, [0, 3]);
    assert.equal(histogramOf([0, 0], 4).log10Abs, undefined);
  });
});

describe('PerTensorStats (mean and max |d| per parameter tensor)', () => {
  it('summarizes each tensor of a layout, whatever the runs', () => {
    const layout = [
      { name: 'dense/kernel', layer: 'dense', shape: [2, 2], offset: 0, size: 4 },
      { name: 'dense/bias', layer: 'dense', shape: [2], offset: 4, size: 2 },
      { name: 'out/kernel', layer: 'out', shape: [3], offset: 6, size: 3 },
    ];
    const d = Float32Array.from([1, -2, 3, -4, 0.5, 0.5, -6, 0, 3]);
    for (const runs of [[9], [1], [5, 2]]) {
      const stats = new PerTensorStats(layout);
      feed(d, runs, (v, first) => stats.add(v, first));
      assert.deepEqual(
        stats.result().map((t) => [t.name, t.mean, t.meanAbs, t.maxAbs]),
        [
          ['dense/kernel', -0.5, 2.5, 4],
          ['dense/bias', 0.5, 0.5, 0.5],
          ['out/kernel', -1, 3, 6],
        ],
        `runs ${runs}`,
      );
    }
  });
});

describe('thinCurve and eigenvaluesOf', () => {
  it('keeps a short curve and averages runs of a long one', () => {
    assert.deepEqual(thinCurve([0, 1, 2], [5, 6, 7], 10), { grid: [0, 1, 2], values: [5, 6, 7], points: 3 });
    assert.deepEqual(thinCurve([0, 1, 2, 3, 4, 5], [1, 3, 5, 7, 9, 11], 3), {
      grid: [0.5, 2.5, 4.5],
      values: [2, 6, 10],
      points: 6,
    });
  });

  it("takes eigen's eigenvalues as listed and a density's first-probe Ritz values largest first", () => {
    assert.deepEqual(eigenvaluesOf('eigen', { eigenvalues: [5, 3, 1] }, 2), {
      values: [5, 3],
      source: 'eigen',
      total: 3,
    });
    const probes = [{ nodes: [0.5, 4, 2], weights: [0.2, 0.3, 0.5] }, { nodes: [9] }];
    assert.deepEqual(eigenvaluesOf('density', { probes }, 5), {
      values: [4, 2, 0.5],
      source: 'ritz',
      total: 3,
    });
    const many = [{ nodes: [1, 2, 3, 4, 5, 6, 7, 8] }];
    assert.deepEqual(
      eigenvaluesOf('density', { probes: many }, 256)!.values,
      [8, 7, 6, 5, 4],
      'the top 5 only',
    );
    assert.equal(eigenvaluesOf('trace', { trace: 3 }, 5), undefined);
  });
});

describe('streamFloat32Npy', () => {
  const matrix = Float32Array.from({ length: 12 }, (_, k) => k - 5.5);
  const file = encodeNpy({ dtype: 'float32', shape: [3, 4], data: matrix });

  async function* chunks(bytes: Uint8Array, size: number) {
    for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
  }

  it('reads every element in order from chunks of any size (header and elements split)', async () => {
    for (const size of [1, 3, 7, 11, 64, 1 << 20]) {
      const seen: number[] = [];
      await streamFloat32Npy(chunks(file, size), file.length, 'h.npy', [3, 4], (v, first) => {
        assert.equal(first, seen.length);
        seen.push(...v);
      });
      assert.deepEqual(seen, Array.from(matrix), `chunks of ${size}`);
    }
  });

  it('refuses a wrong shape, dtype, size or a file that is not a .npy', async () => {
    const none = () => undefined;
    await assert.rejects(
      streamFloat32Npy(chunks(file, 5), file.length, 'h.npy', [4, 3], none),
      /shape \[3, 4\]/,
    );
    await assert.rejects(streamFloat32Npy(chunks(file, 5), file.length + 4, 'h.npy', [3, 4], none), /bytes/);
    const f64 = encodeNpy({ dtype: 'float64', shape: [3, 4], data: Float64Array.from(matrix) });
    await assert.rejects(streamFloat32Npy(chunks(f64, 5), f64.length, 'h.npy', [3, 4], none), /float32/);
    const junk = new TextEncoder().encode('not a numpy file at all');
    await assert.rejects(streamFloat32Npy(chunks(junk, 5), junk.length, 'h.npy', [3, 4], none), /NUMPY/);
    const cut = file.slice(0, file.length - 4);
    await assert.rejects(streamFloat32Npy(chunks(cut, 5), file.length, 'h.npy', [3, 4], none), /11 elements/);
  });
});

describe('computeArtifactPreview (what the decoder thread reads from the storage)', () => {
  it('streams a 300×300 Hessian into 128×128 block means and notes an expired file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-preview-'));
    try {
      const store = new LocalArtifactStore(dir);
      await store.init();
      // H[i][j] = 1 on the diagonal, -1 on the first row and column (i or j = 0), else 0.
      const n = 300;
      const h = new Float32Array(n * n);
      for (let i = 0; i < n; i++) {
        h[i * n + i] = 1;
        if (i > 0) h[i] = h[i * n] = -1;
      }
      await store.writeResult(
        'job-1',
        'hessian.npy',
        encodeNpy({ dtype: 'float32', shape: [n, n], data: h }),
      );
      const out = await computeArtifactPreview({
        kind: 'job-preview',
        storage: { kind: 'local', dir },
        jobId: 'job-1',
        method: 'hessian',
        numParams: n,
        artifacts: [{ name: 'hessian.npy', shape: [n, n] }],
      });
      const map = out.heatmap!;
      assert.deepEqual([map.size, map.rows, map.cols, map.maxAbs, map.nonFinite], [300, 128, 128, 1, 0]);
      // Bin b holds rows floor(b·300/128)...: bin 0 is rows 0..2 (3 rows), bin 1 rows 3..4 (2 rows).
      assert.deepEqual(map.starts.slice(0, 3), [0, 3, 5]);
      // Cell (0,0): rows/cols 0..2: diagonal 1,1,1, first row/column -1 ×4 (H[0][0] = 1): sum -1 over 9.
      assert.equal(map.values[0], Number((-1 / 9).toPrecision(6)));
      // Cell (1,1): rows/cols 3..4: two diagonal ones over 4.
      assert.equal(map.values[128 + 1], 0.5);
      // Cell (0,1): rows 0..2 × cols 3..4: row 0 gives -1, -1: -2 over 6.
      assert.equal(map.values[1], Number((-2 / 6).toPrecision(6)));
      assert.deepEqual(out.notes, []);

      const gone = await computeArtifactPreview({
        kind: 'job-preview',
        storage: { kind: 'local', dir },
        jobId: 'job-2',
        method: 'diagonal',
        numParams: 4,
        artifacts: [{ name: 'diagonal.npy', shape: [4] }],
      });
      assert.equal(gone.histogram, undefined);
      assert.match(gone.notes.join(), /diagonal\.npy is no longer stored/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
