/**
 * The file-reading half of a job's preview (`GET /v1/jobs/{id}/preview`), run in an upload decoder thread (kind
 * `job-preview`, see `upload-tasks.ts`): the result arrays are streamed from the storage interface chunk by chunk
 * and fed to the accumulators, so a dense P×P result is never held whole (memory: one 64 KiB chunk, the N×N cells
 * and an index of P bins). The parameter layout, for the per-tensor statistics and the tensor boundaries, comes
 * from the job's model, parsed as the engine parses it. A file that is gone or malformed leaves its plot out with a
 * note instead of failing the preview.
 */
import type { Readable } from 'node:stream';
import { parseNpyHeader } from '../../contract/data/npy.js';
import { parseModel } from '../../contract/model/parse.js';
import { selectParameters } from '../../contract/parameters.js';
import type { ParameterSelection } from '../../contract/request-schema.js';
import type { ArtifactStore } from '../../storage/artifact-store.js';
import { loadModelArtifacts } from '../../storage/bundles.js';
import { createArtifactStore, type StorageSpec } from '../../storage/create-store.js';
import {
  BlockMeans,
  PerTensorStats,
  thinCurve,
  VectorHistogram,
  VectorRange,
  type CurvePreview,
  type HeatmapPreview,
  type TensorSlot,
  type TensorStats,
  type VectorHistograms,
} from './accumulators.js';

/** Bounds of what a preview sends, whatever the result's size. */
export const PREVIEW_LIMITS = {
  /** Heat map cells per side. */
  heatmapCells: 128,
  histogramBins: 40,
  /** Points of a density curve. */
  curvePoints: 1024,
  /** Eigenvalues (bars or marks). */
  eigenvalues: 256,
  /** Tensors listed (layout and per-tensor statistics). */
  tensors: 2000,
  /** A density's grid and values are read whole; a larger file is refused (gridPoints is at most 100000). */
  curveBytes: 4 * 1024 * 1024,
} as const;

/** The dense results a heat map is drawn of, by artifact name. */
export const DENSE_ARTIFACTS = ['hessian.npy', 'ggn.npy', 'fisher.npy'];
/** Methods whose `diagonal.npy` gets a histogram and per-tensor statistics. */
export const DIAGONAL_METHODS = ['diagonal', 'diagonal_estimate'];

export interface PreviewTask {
  kind: 'job-preview';
  storage: StorageSpec;
  jobId: string;
  method: string;
  numParams: number;
  /** The job's model and parameter selection, for the layout (absent: no layout). */
  modelId?: string;
  parameters?: ParameterSelection;
  artifacts: { name: string; shape: number[] }[];
  limits?: Partial<typeof PREVIEW_LIMITS>;
}

/** What the thread computes from the files. */
export interface ArtifactPreview {
  preview: 'artifacts';
  tensors?: TensorSlot[];
  heatmap?: HeatmapPreview & { artifact: string };
  histogram?: VectorHistograms & { artifact: string };
  perTensor?: TensorStats[];
  density?: CurvePreview;
  notes: string[];
}

/** One store per thread and spec (as the upload tasks keep theirs). */
const stores = new Map<string, ArtifactStore>();
function storeFor(spec: StorageSpec): ArtifactStore {
  const key = JSON.stringify(spec);
  let store = stores.get(key);
  if (!store) stores.set(key, (store = createArtifactStore(spec)));
  return store;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Bytes handed to the accumulators at a time (a multiple of 4). */
const CHUNK_BYTES = 64 * 1024;
/** More than enough for any header (parseNpyHeader refuses more than 64 KiB). */
const MAX_PREFIX_BYTES = 64 * 1024 + 16;

class PreviewFileError extends Error {}

/**
 * Streams a float32 little-endian C-order `.npy` of the expected shape, calling `onValues(values, first)` with runs
 * of its elements in order (`values` is reused between calls). The header is read with the repo's `.npy` parser and
 * checked against the shape the job recorded and the file's size.
 */
export async function streamFloat32Npy(
  stream: AsyncIterable<Uint8Array>,
  fileSize: number,
  name: string,
  expectedShape: readonly number[],
  onValues: (values: Float32Array, first: number) => void,
): Promise<void> {
  const scratch = new Uint8Array(CHUNK_BYTES);
  const floats = new Float32Array(scratch.buffer);
  let prefix: Uint8Array | null = new Uint8Array(0);
  let dataStart = -1;
  let fill = 0;
  let next = 0;
  const elements = expectedShape.reduce((n, d) => n * d, 1);

  const flush = (bytes: number) => {
    const count = bytes >> 2;
    if (count === 0) return;
    if (!HOST_IS_LITTLE_ENDIAN) {
      for (let i = 0; i < count * 4; i += 4) {
        [scratch[i], scratch[i + 1], scratch[i + 2], scratch[i + 3]] = [
          scratch[i + 3],
          scratch[i + 2],
          scratch[i + 1],
          scratch[i],
        ];
      }
    }
    onValues(floats.subarray(0, count), next);
    next += count;
  };
  const take = (chunk: Uint8Array) => {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, CHUNK_BYTES - fill);
      scratch.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === CHUNK_BYTES) {
        flush(fill);
        fill = 0;
      }
    }
  };

  for await (const raw of stream) {
    const chunk = raw instanceof Uint8Array ? raw : new Uint8Array(raw as ArrayBufferLike);
    if (prefix === null) {
      take(chunk);
      continue;
    }
    const joined: Uint8Array = new Uint8Array(prefix.length + chunk.length);
    joined.set(prefix);
    joined.set(chunk, prefix.length);
    const headerEnd = headerEndOf(joined, name);
    if (headerEnd === null || joined.length < headerEnd) {
      if (joined.length > MAX_PREFIX_BYTES)
        throw new PreviewFileError(`${name}: the .npy header is too long`);
      prefix = joined;
      continue;
    }
    const header = parseNpyHeader(joined.subarray(0, headerEnd), name);
    if (header.descr !== '<f4' || header.fortranOrder) {
      throw new PreviewFileError(`${name}: expected a float32 C-order array, found ${header.descr}`);
    }
    if (header.shape.join(',') !== expectedShape.join(',')) {
      throw new PreviewFileError(
        `${name}: shape [${header.shape.join(', ')}] is not the recorded [${expectedShape.join(', ')}]`,
      );
    }
    dataStart = header.dataStart;
    if (fileSize !== dataStart + elements * 4) {
      throw new PreviewFileError(
        `${name}: ${fileSize} bytes, not the ${dataStart + elements * 4} its header says`,
      );
    }
    prefix = null;
    take(joined.subarray(dataStart));
  }
  if (dataStart < 0) throw new PreviewFileError(`${name}: the file ends inside its .npy header`);
  if (fill % 4 !== 0) throw new PreviewFileError(`${name}: the data ends inside an element`);
  flush(fill);
  if (next !== elements) throw new PreviewFileError(`${name}: ${next} elements, not ${elements}`);
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Where the header of a `.npy` file ends, once its first 12 bytes are there (null before). */
function headerEndOf(bytes: Uint8Array, name: string): number | null {
  if (bytes.length < 12) return null;
  const major = bytes[6];
  // Not a .npy (or a version we do not read): the parser says so in its own words.
  if (NPY_MAGIC.some((b, i) => bytes[i] !== b) || major < 1 || major > 3) parseNpyHeader(bytes, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return major === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true);
}

/** Streams one result file through `onValues`; false (with a note) when it is gone or not as recorded. */
async function readArtifact(
  store: ArtifactStore,
  jobId: string,
  artifact: { name: string; shape: number[] },
  notes: string[],
  onValues: (values: Float32Array, first: number) => void,
): Promise<boolean> {
  const file = await store.openResult(jobId, artifact.name);
  if (!file) {
    notes.push(`${artifact.name} is no longer stored (expired): its plot is left out`);
    return false;
  }
  try {
    await streamFloat32Npy(file.stream as Readable, file.size, artifact.name, artifact.shape, onValues);
    return true;
  } catch (err) {
    notes.push(`${artifact.name} could not be read: ${(err as Error).message}`);
    return false;
  } finally {
    file.stream.destroy();
  }
}

/** The engine's layout of θ for the job (its model's trainable weights, as selected), or undefined with a note. */
async function layoutOf(
  store: ArtifactStore,
  task: PreviewTask,
  notes: string[],
): Promise<TensorSlot[] | undefined> {
  if (!task.modelId) return undefined;
  try {
    const layout = selectParameters(
      parseModel(await loadModelArtifacts(store, task.modelId)),
      task.parameters,
    );
    const total = layout.reduce((n, p) => n + p.size, 0);
    if (total !== task.numParams) {
      notes.push(
        `the model's layout has ${total} parameters, the result ${task.numParams}: no per-tensor view`,
      );
      return undefined;
    }
    return layout.map(({ name, layer, shape, offset, size }) => ({ name, layer, shape, offset, size }));
  } catch (err) {
    const gone = (err as NodeJS.ErrnoException).code === 'ENOENT';
    notes.push(
      gone
        ? "the job's model is no longer stored: no per-tensor view"
        : `the job's model could not be read: ${(err as Error).message}`,
    );
    return undefined;
  }
}

/** Reads what the job's result files contribute to its preview (see {@link ArtifactPreview}). */
export async function computeArtifactPreview(task: PreviewTask): Promise<ArtifactPreview> {
  const limits = { ...PREVIEW_LIMITS, ...task.limits };
  const store = storeFor(task.storage);
  const notes: string[] = [];
  const out: ArtifactPreview = { preview: 'artifacts', notes };
  const byName = new Map(task.artifacts.map((a) => [a.name, a]));
  const layout = await layoutOf(store, task, notes);
  if (layout) {
    if (layout.length <= limits.tensors) out.tensors = layout;
    else notes.push(`${layout.length} tensors: more than the ${limits.tensors} a preview lists`);
  }

  const dense = DENSE_ARTIFACTS.map((n) => byName.get(n)).find(
    (a) => a && a.shape.length === 2 && a.shape[0] === a.shape[1] && a.shape[0] > 0,
  );
  if (dense) {
    const means = new BlockMeans(dense.shape[0], limits.heatmapCells);
    if (await readArtifact(store, task.jobId, dense, notes, (v, first) => means.add(v, first))) {
      out.heatmap = { artifact: dense.name, ...means.result() };
    }
  }

  const diagonal = byName.get('diagonal.npy');
  if (DIAGONAL_METHODS.includes(task.method) && diagonal && diagonal.shape.length === 1) {
    // Two passes: the range (and the per-tensor statistics), then the counts over the range's bins.
    const range = new VectorRange();
    const stats = out.tensors ? new PerTensorStats(out.tensors) : undefined;
    const first = await readArtifact(store, task.jobId, diagonal, notes, (v, at) => {
      range.add(v);
      stats?.add(v, at);
    });
    const histogram = new VectorHistogram(range, limits.histogramBins);
    if (first && (await readArtifact(store, task.jobId, diagonal, notes, (v) => histogram.add(v)))) {
      out.histogram = { artifact: diagonal.name, ...histogram.result() };
      if (stats) out.perTensor = stats.result();
    }
  }

  const grid = byName.get('density_grid.npy');
  const values = byName.get('density.npy');
  if (grid && values) {
    const bytes = grid.shape.reduce((n, d) => n * d, 4);
    if (bytes > limits.curveBytes || grid.shape.join() !== values.shape.join() || grid.shape.length !== 1) {
      notes.push('the density is larger than a preview reads, or its grid and values differ in shape');
    } else {
      const xs = new Float32Array(grid.shape[0]);
      const ys = new Float32Array(values.shape[0]);
      const okX = await readArtifact(store, task.jobId, grid, notes, (v, at) => xs.set(v, at));
      const okY = okX && (await readArtifact(store, task.jobId, values, notes, (v, at) => ys.set(v, at)));
      if (okY) out.density = thinCurve(xs, ys, limits.curvePoints);
    }
  }
  return out;
}
