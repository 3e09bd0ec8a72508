/**
 * Plot-ready summaries of result arrays, computed in one streaming pass over float32 values so a result of any size
 * costs memory of the summary's size, never of the array's: the block means of a dense P×P matrix (a heat map of at
 * most N×N cells), a histogram of a vector (linear, and of log10 |v|), per-tensor statistics over the parameter
 * layout, and a long curve thinned to a bounded number of points. Every accumulator takes the values in order, as
 * runs of any length (`add(values, first)` where `first` is the flat index of `values[0]`), so a file can be fed
 * chunk by chunk as it streams. Pure: no I/O (see `task.ts` for the reading).
 */

/** Significant digits kept in the numbers a preview sends (plots need no more; the JSON stays small). */
const DIGITS = 6;

/** A finite number rounded to {@link DIGITS} significant digits. */
export const round = (x: number): number => (x === 0 ? 0 : Number(x.toPrecision(DIGITS)));

/** Bin `i` of `size` items spread over `bins` contiguous bins, as even as they divide: floor(i·bins/size). */
function binsOf(size: number, bins: number): { binOf: Int32Array; counts: Float64Array } {
  const binOf = new Int32Array(size);
  const counts = new Float64Array(bins);
  for (let i = 0; i < size; i++) {
    const b = Math.floor((i * bins) / size);
    binOf[i] = b;
    counts[b]++;
  }
  return { binOf, counts };
}

export interface HeatmapPreview {
  /** P: the matrix is P×P. */
  size: number;
  /** Cells per side (min(P, maxCells)); cell (i, j) covers rows [starts[i], starts[i+1]) and the same columns. */
  rows: number;
  cols: number;
  /** First matrix row (column) of each cell, and P at the end: `rows + 1` numbers. */
  starts: number[];
  /** Mean of the signed entries of each cell, row-major (`rows × cols`), for a diverging colour scale. */
  values: number[];
  /** Smallest and largest cell mean. */
  min: number;
  max: number;
  /** Largest |entry| of the whole matrix (not of the means). */
  maxAbs: number;
  /** Entries that were NaN or ±Infinity (left out of the means). */
  nonFinite: number;
}

/**
 * Block means of a P×P row-major matrix on an n×n grid (n = min(P, maxCells)): cell (i, j) is the mean of the
 * entries in the rows of bin i and the columns of bin j, bin b holding indices floor(b·P/n) up to floor((b+1)·P/n).
 * With P ≤ maxCells every cell is one entry, the matrix itself.
 */
export class BlockMeans {
  readonly cells: number;
  private readonly binOf: Int32Array;
  private readonly perBin: Float64Array;
  private readonly sums: Float64Array;
  private seen = 0;
  private maxAbs = 0;
  private nonFinite = 0;

  constructor(
    readonly size: number,
    maxCells: number,
  ) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new RangeError(`matrix size ${size} is not a positive integer`);
    this.cells = Math.min(size, maxCells);
    ({ binOf: this.binOf, counts: this.perBin } = binsOf(size, this.cells));
    this.sums = new Float64Array(this.cells * this.cells);
  }

  /** Adds entries `first`, `first + 1`, ... (flat row-major indices), which must follow those added before. */
  add(values: ArrayLike<number>, first: number): void {
    if (first !== this.seen)
      throw new RangeError(`entries must come in order: expected ${this.seen}, got ${first}`);
    const { size, cells, binOf, sums } = this;
    if (first + values.length > size * size) throw new RangeError(`more than ${size}×${size} entries`);
    let row = Math.floor(first / size);
    let col = first - row * size;
    let rowBase = binOf[row] * cells;
    for (let k = 0; k < values.length; k++) {
      const v = values[k];
      if (Number.isFinite(v)) {
        sums[rowBase + binOf[col]] += v;
        const a = Math.abs(v);
        if (a > this.maxAbs) this.maxAbs = a;
      } else this.nonFinite++;
      if (++col === size) {
        col = 0;
        row++;
        if (row < size) rowBase = binOf[row] * cells;
      }
    }
    this.seen += values.length;
  }

  /** The preview, once all P² entries were added. */
  result(): HeatmapPreview {
    const { size, cells, perBin, sums } = this;
    if (this.seen !== size * size) throw new RangeError(`got ${this.seen} of ${size * size} entries`);
    const values = new Array<number>(cells * cells);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < cells; i++) {
      for (let j = 0; j < cells; j++) {
        const mean = sums[i * cells + j] / (perBin[i] * perBin[j]);
        if (mean < min) min = mean;
        if (mean > max) max = mean;
        values[i * cells + j] = round(mean);
      }
    }
    const starts: number[] = [];
    for (let b = 0; b <= cells; b++) starts.push(Math.ceil((b * size) / cells));
    return {
      size,
      rows: cells,
      cols: cells,
      starts,
      values,
      min: round(min),
      max: round(max),
      maxAbs: round(this.maxAbs),
      nonFinite: this.nonFinite,
    };
  }
}

/** What the first pass over a vector learns: its range, for the histograms' edges. */
export class VectorRange {
  count = 0;
  nonFinite = 0;
  zeros = 0;
  min = Infinity;
  max = -Infinity;
  /** Smallest and largest |v| over the non-zero entries (the log histogram's range). */
  minAbs = Infinity;
  maxAbs = 0;

  add(values: ArrayLike<number>): void {
    for (let k = 0; k < values.length; k++) {
      const v = values[k];
      if (!Number.isFinite(v)) {
        this.nonFinite++;
        continue;
      }
      this.count++;
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      if (v === 0) {
        this.zeros++;
        continue;
      }
      const a = Math.abs(v);
      if (a < this.minAbs) this.minAbs = a;
      if (a > this.maxAbs) this.maxAbs = a;
    }
  }
}

export interface HistogramPreview {
  /** `bins + 1` increasing edges; bin b counts values in [edges[b], edges[b+1]) (the last bin includes its end). */
  edges: number[];
  counts: number[];
}

export interface VectorHistograms {
  /** Finite entries counted, and those left out (NaN, ±Infinity). */
  count: number;
  nonFinite: number;
  zeros: number;
  min: number;
  max: number;
  /** Of the values, over [min, max] (a one-value vector gets the range [v - 0.5, v + 0.5]). */
  linear: HistogramPreview;
  /** Of log10 |v| over the non-zero entries; absent when every entry is zero. */
  log10Abs?: HistogramPreview;
}

/** Equal-width bins over [lo, hi]; a point range is widened by half a unit either way. */
function edgesOf(lo: number, hi: number, bins: number): { lo: number; width: number; edges: number[] } {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const edges: number[] = [];
  for (let b = 0; b <= bins; b++) edges.push(b === bins ? hi : lo + b * width);
  return { lo, width, edges };
}

/** The bin of `v` among `bins` bins of `width` from `lo` (the top edge falls in the last bin). */
const binIndex = (v: number, lo: number, width: number, bins: number): number =>
  Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));

/** The second pass over a vector: counts per bin, with edges fixed by the first pass's {@link VectorRange}. */
export class VectorHistogram {
  private readonly linear: { lo: number; width: number; edges: number[]; counts: Float64Array };
  private readonly log?: { lo: number; width: number; edges: number[]; counts: Float64Array };

  constructor(
    private readonly range: VectorRange,
    private readonly bins: number,
  ) {
    const lo = range.count > 0 ? range.min : 0;
    const hi = range.count > 0 ? range.max : 0;
    this.linear = { ...edgesOf(lo, hi, bins), counts: new Float64Array(bins) };
    if (range.maxAbs > 0) {
      this.log = {
        ...edgesOf(Math.log10(range.minAbs), Math.log10(range.maxAbs), bins),
        counts: new Float64Array(bins),
      };
    }
  }

  add(values: ArrayLike<number>): void {
    const { linear, log, bins } = this;
    for (let k = 0; k < values.length; k++) {
      const v = values[k];
      if (!Number.isFinite(v)) continue;
      linear.counts[binIndex(v, linear.lo, linear.width, bins)]++;
      if (log && v !== 0) log.counts[binIndex(Math.log10(Math.abs(v)), log.lo, log.width, bins)]++;
    }
  }

  result(): VectorHistograms {
    const r = this.range;
    const out = (h: { edges: number[]; counts: Float64Array }): HistogramPreview => ({
      edges: h.edges.map(round),
      counts: Array.from(h.counts),
    });
    return {
      count: r.count,
      nonFinite: r.nonFinite,
      zeros: r.zeros,
      min: r.count > 0 ? round(r.min) : 0,
      max: r.count > 0 ? round(r.max) : 0,
      linear: out(this.linear),
      ...(this.log && { log10Abs: out(this.log) }),
    };
  }
}

/** Histograms of a vector held in memory (both passes at once): what the streaming passes compute. */
export function histogramOf(values: ArrayLike<number>, bins: number): VectorHistograms {
  const range = new VectorRange();
  range.add(values);
  const histogram = new VectorHistogram(range, bins);
  histogram.add(values);
  return histogram.result();
}

/** One parameter tensor of θ (the engine's layout). */
export interface TensorSlot {
  name: string;
  layer: string;
  shape: number[];
  offset: number;
  size: number;
}

export interface TensorStats extends TensorSlot {
  /** Mean of the entries, of their absolute values, and the largest absolute value (NaN/±Inf left out). */
  mean: number;
  meanAbs: number;
  maxAbs: number;
}

/** Mean, mean |v| and max |v| of a vector over each tensor of a layout (the tensors tile [0, P) in order). */
export class PerTensorStats {
  private readonly sums: Float64Array;
  private readonly absSums: Float64Array;
  private readonly maxAbs: Float64Array;
  private readonly counts: Float64Array;
  private readonly tensorOf: (index: number) => number;

  constructor(private readonly layout: readonly TensorSlot[]) {
    const n = layout.length;
    this.sums = new Float64Array(n);
    this.absSums = new Float64Array(n);
    this.maxAbs = new Float64Array(n);
    this.counts = new Float64Array(n);
    const ends = layout.map((t) => t.offset + t.size);
    // The tensor holding an index: a binary search over their ends (runs stay within one tensor most of the time).
    this.tensorOf = (index) => {
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid] > index) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
  }

  add(values: ArrayLike<number>, first: number): void {
    const { layout } = this;
    if (layout.length === 0) return;
    let t = this.tensorOf(first);
    let end = layout[t].offset + layout[t].size;
    for (let k = 0; k < values.length; k++) {
      const index = first + k;
      while (index >= end && t + 1 < layout.length) {
        t++;
        end = layout[t].offset + layout[t].size;
      }
      if (index < layout[t].offset || index >= end) continue;
      const v = values[k];
      if (!Number.isFinite(v)) continue;
      const a = Math.abs(v);
      this.sums[t] += v;
      this.absSums[t] += a;
      if (a > this.maxAbs[t]) this.maxAbs[t] = a;
      this.counts[t]++;
    }
  }

  result(): TensorStats[] {
    return this.layout.map((slot, t) => {
      const n = this.counts[t];
      return {
        name: slot.name,
        layer: slot.layer,
        shape: slot.shape,
        offset: slot.offset,
        size: slot.size,
        mean: n > 0 ? round(this.sums[t] / n) : 0,
        meanAbs: n > 0 ? round(this.absSums[t] / n) : 0,
        maxAbs: round(this.maxAbs[t]),
      };
    });
  }
}

export interface CurvePreview {
  grid: number[];
  values: number[];
  /** Points of the curve as computed (the preview has at most `maxPoints` of them: means of runs of points). */
  points: number;
}

/**
 * A curve y(x) of n points thinned to at most `maxPoints`: point b is the mean x and mean y of the run of points
 * bin b holds (bins as in {@link BlockMeans}), so the area under a density is kept. Non-finite points are dropped.
 */
export function thinCurve(
  grid: ArrayLike<number>,
  values: ArrayLike<number>,
  maxPoints: number,
): CurvePreview {
  if (grid.length !== values.length) {
    throw new RangeError(`the grid has ${grid.length} points and the values ${values.length}`);
  }
  const n = grid.length;
  const bins = Math.min(n, maxPoints);
  const xs = new Float64Array(bins);
  const ys = new Float64Array(bins);
  const counts = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(grid[i]) || !Number.isFinite(values[i])) continue;
    const b = Math.floor((i * bins) / n);
    xs[b] += grid[i];
    ys[b] += values[i];
    counts[b]++;
  }
  const out: CurvePreview = { grid: [], values: [], points: n };
  for (let b = 0; b < bins; b++) {
    if (counts[b] === 0) continue;
    out.grid.push(round(xs[b] / counts[b]));
    out.values.push(round(ys[b] / counts[b]));
  }
  return out;
}

export interface EigenvaluesPreview {
  values: number[];
  /**
   * `eigen`: the method's eigenvalues (Lanczos, as the summary lists them). `ritz`: for a `density`, the largest
   * Ritz values of its first probe's Lanczos run, largest first, which approximate the top eigenvalues.
   */
  source: 'eigen' | 'ritz';
  /** How many there were before the preview kept at most its limit. */
  total: number;
}

const finiteNumbers = (x: unknown): number[] =>
  Array.isArray(x) ? x.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)) : [];

/** Ritz values a density preview marks: the top few, those a Lanczos run resolves first. */
export const RITZ_MARKS = 5;

/**
 * The eigenvalues a result's summary holds: those of `eigen` (at most `max`), or for `density` the top
 * {@link RITZ_MARKS} Ritz values of its first probe (`summary.probes[0].nodes`); undefined when it has none.
 */
export function eigenvaluesOf(
  method: string,
  summary: Record<string, unknown>,
  max: number,
): EigenvaluesPreview | undefined {
  if (method === 'eigen') {
    const values = finiteNumbers(summary.eigenvalues);
    if (values.length === 0) return undefined;
    return { values: values.slice(0, max).map(round), source: 'eigen', total: values.length };
  }
  if (method === 'density' && Array.isArray(summary.probes) && summary.probes.length > 0) {
    const first = summary.probes[0] as { nodes?: unknown };
    const nodes = finiteNumbers(first?.nodes).sort((a, b) => b - a);
    if (nodes.length === 0) return undefined;
    return {
      values: nodes.slice(0, Math.min(max, RITZ_MARKS)).map(round),
      source: 'ritz',
      total: nodes.length,
    };
  }
  return undefined;
}
