/**
 * The forward pass of imported ONNX nodes (`onnx` layers, see `src/contract/onnx/`), built like the rest of
 * `forward.ts` from ops whose derivatives of every order are right: convolutions (grouped, dilated, padded,
 * strided, transposed) are an im2col gather (`take`) on the NCHW input and a batched matMul; max pooling gathers
 * each window's maximum at indices chosen from the current values; average pooling gathers and sums;
 * normalizations are written out; softmax is shifted by a constant; Erf keeps TF.js's gradient, which is
 * recomputed from its input through the registered Exp.
 */
import * as tf from '@tensorflow/tfjs';
import { take } from '../autodiff/take.js';
import { EngineError } from '../../contract/errors.js';
import { sizeOf } from '../../contract/ndarray.js';
import type { LayerSpec } from '../../contract/model/parsed-model.js';
import type { OnnxOperand } from '../../contract/onnx/node-op.js';
import { windowCounts, windowTemplate, type WindowTemplate } from '../../contract/model/window-indices.js';
import { expm1OfNegativePart, logSoftmax, softmax } from './activations.js';

export type OnnxLayer = Extract<LayerSpec, { kind: 'onnx' }>;

/** Index arrays depend only on the layer and the batch size: computed once per (layer, batch). */
const indexCache = new WeakMap<OnnxLayer, Map<string, Int32Array>>();

function cached(layer: OnnxLayer, key: string, make: () => Int32Array): Int32Array {
  let entries = indexCache.get(layer);
  if (!entries) {
    entries = new Map();
    indexCache.set(layer, entries);
  }
  let entry = entries.get(key);
  if (!entry) {
    entry = make();
    entries.set(key, entry);
  }
  return entry;
}

const num = (layer: OnnxLayer, name: string) => layer.attributes[name] as number;
const nums = (layer: OnnxLayer, name: string) => layer.attributes[name] as number[];

/** The spatial window of a Conv/pool layer over an NCHW input (1-D as height 1). */
function template(layer: OnnxLayer, height: number, width: number): WindowTemplate {
  const [top, bottom, left, right] = nums(layer, 'pads');
  return windowTemplate({
    height,
    width,
    channels: 1,
    kernel: nums(layer, 'kernel') as [number, number],
    strides: nums(layer, 'strides') as [number, number],
    dilation: nums(layer, 'dilations') as [number, number],
    padding: {
      pads: [
        [top, bottom],
        [left, right],
      ],
    },
  });
}

/** [batch, channels, height, width] of an NCHW input (1-D: height 1). */
function nchw(layer: OnnxLayer, x: tf.Tensor): [number, number, number, number] {
  const [c, ...spatial] = layer.inputShapes[0];
  return num(layer, 'rank') === 1 ? [x.shape[0], c, 1, spatial[0]] : [x.shape[0], c, spatial[0], spatial[1]];
}

/**
 * im2col indices into a flat NCHW input, laid out [group, batch·pixels, channels/group · kh · kw] (channel
 * major within a row, as ONNX orders a kernel's [C/group, kh, kw]); −1 reads 0 (padding). `source(p, k)` is the
 * input pixel (row·width + col) that output pixel p reads through kernel position k, or −1.
 */
function groupedPatchIndices(
  dims: [number, number, number, number],
  groups: number,
  pixels: number,
  window: number,
  source: (p: number, k: number) => number,
): Int32Array {
  const [batch, channels, height, width] = dims;
  const perGroup = channels / groups;
  const plane = height * width;
  const indices = new Int32Array(groups * batch * pixels * perGroup * window);
  let i = 0;
  for (let g = 0; g < groups; g++) {
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < perGroup; c++) {
          const base = (n * channels + g * perGroup + c) * plane;
          for (let k = 0; k < window; k++) {
            const s = source(p, k);
            indices[i++] = s < 0 ? -1 : base + s;
          }
        }
      }
    }
  }
  return indices;
}

/**
 * Conv and ConvTranspose: grouped patches [G, N·pixels, C/G·kk] times the kernel arranged [G, C/G·kk, M/G], then
 * back to [N, M, outH, outW]. Conv's kernel is [M, C/G, kh, kw]; ConvTranspose's [C, M/G, kh, kw], and output
 * pixel o reads input pixel i through kernel position k where o = i·stride + k·dilation − pad_begin.
 */
function convolution(
  layer: OnnxLayer,
  x: tf.Tensor,
  w: tf.Tensor,
  bias: tf.Tensor | null,
  transposed: boolean,
) {
  const dims = nchw(layer, x);
  const [batch, channels, height, width] = dims;
  const groups = num(layer, 'group');
  const filters = num(layer, 'filters');
  const [kh, kw] = nums(layer, 'kernel');
  const window = kh * kw;
  const rank = num(layer, 'rank');
  const outSpatial = layer.outputShape.slice(1);
  const [outH, outW] = rank === 1 ? [1, outSpatial[0]] : outSpatial;
  const pixels = outH * outW;
  const perGroup = channels / groups;
  const indices = cached(layer, `${batch}`, () => {
    if (!transposed) {
      const t = template(layer, height, width);
      return groupedPatchIndices(dims, groups, pixels, window, (p, k) => t.spatial[p * window + k]);
    }
    const [sh, sw] = nums(layer, 'strides');
    const [dh, dw] = nums(layer, 'dilations');
    const [top, , left] = nums(layer, 'pads');
    const from = (o: number, k: number, stride: number, dilation: number, pad: number, size: number) => {
      const t = o + pad - k * dilation;
      if (t < 0 || t % stride !== 0 || t / stride >= size) return -1;
      return t / stride;
    };
    return groupedPatchIndices(dims, groups, pixels, window, (p, k) => {
      const ih = from(Math.floor(p / outW), Math.floor(k / kw), sh, dh, top, height);
      const iw = from(p % outW, k % kw, sw, dw, left, width);
      return ih < 0 || iw < 0 ? -1 : ih * width + iw;
    });
  });
  const depth = perGroup * window;
  const patches = take(x, indices, [groups, batch * pixels, depth]);
  const perFilterGroup = filters / groups;
  const kernel = transposed
    ? tf.reshape(tf.transpose(tf.reshape(w, [groups, perGroup, perFilterGroup, window]), [0, 1, 3, 2]), [
        groups,
        depth,
        perFilterGroup,
      ])
    : tf.transpose(tf.reshape(w, [groups, perFilterGroup, depth]), [0, 2, 1]);
  const z = tf.matMul(patches, kernel); // [G, N·pixels, M/G]
  let y = tf.reshape(tf.transpose(tf.reshape(z, [groups, batch, pixels, perFilterGroup]), [1, 0, 3, 2]), [
    batch,
    filters,
    ...outSpatial,
  ]);
  if (bias) y = tf.add(y, tf.reshape(bias, [1, filters, ...outSpatial.map(() => 1)]));
  return y;
}

/** MaxPool (gathers each window's argmax, chosen from the current values) and AveragePool over NCHW inputs. */
function pool(layer: OnnxLayer, x: tf.Tensor): tf.Tensor {
  const dims = nchw(layer, x);
  const [batch, channels, height, width] = dims;
  const t = template(layer, height, width);
  const pixels = t.outHeight * t.outWidth;
  const plane = height * width;
  const outShape = [batch, ...layer.outputShape];
  if (layer.opType === 'MaxPool') {
    const values = x.dataSync();
    const argmax = new Int32Array(batch * channels * pixels);
    let i = 0;
    for (let nc = 0; nc < batch * channels; nc++) {
      for (let p = 0; p < pixels; p++) {
        let best = -1;
        for (let k = 0; k < t.windowSize; k++) {
          const s = t.spatial[p * t.windowSize + k];
          if (s < 0) continue;
          const index = nc * plane + s;
          if (best < 0 || values[index] > values[best]) best = index;
        }
        argmax[i++] = best;
      }
    }
    return take(x, argmax, outShape);
  }
  const indices = cached(layer, `${batch}`, () =>
    groupedPatchIndices(dims, channels, pixels, t.windowSize, (p, k) => t.spatial[p * t.windowSize + k]),
  );
  // Laid out [C, N·pixels, window] (one channel per group): summed over the window, then back to [N, C, pixels].
  const windows = take(x, indices, [channels, batch, pixels, t.windowSize]);
  const counts = num(layer, 'countIncludePad')
    ? tf.scalar(t.windowSize)
    : tf.tensor(windowCounts(t), [1, 1, pixels]);
  const mean = tf.div(tf.sum(windows, -1), counts);
  return tf.reshape(tf.transpose(mean, [1, 0, 2]), outShape);
}

/** Softmax or log-softmax along `axis`, shifted by a constant row maximum (moved last and back when needed). */
function softmaxAlong(x: tf.Tensor, axis: number, log: boolean): tf.Tensor {
  const f = log ? logSoftmax : softmax;
  if (axis === x.rank - 1) return f(x);
  const perm = Array.from({ length: x.rank }, (_, i) => i);
  perm[axis] = x.rank - 1;
  perm[x.rank - 1] = axis;
  return tf.transpose(f(tf.transpose(x, perm)), perm);
}

/** Flat gather map of Gather with constant indices along `axis` of a value of `shape`. */
function gatherMap(shape: number[], axis: number, indices: number[]): Int32Array {
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const dim = shape[axis];
  const map = new Int32Array(outer * indices.length * inner);
  let j = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of indices) for (let k = 0; k < inner; k++) map[j++] = (o * dim + i) * inner + k;
  }
  return map;
}

function gather(layer: OnnxLayer, data: tf.Tensor, indices: tf.Tensor | null): tf.Tensor {
  if (num(layer, 'vocabulary') !== undefined && indices) {
    // Embedding: rows of the weight at the input's ids.
    const vocabulary = num(layer, 'vocabulary');
    const row = sizeOf(data.shape.slice(1));
    const ids = indices.dataSync();
    const flat = new Int32Array(ids.length * row);
    for (let i = 0; i < ids.length; i++) {
      let id = ids[i];
      if (Number.isInteger(id) && id < 0) id += vocabulary;
      if (!Number.isInteger(id) || id < 0 || id >= vocabulary) {
        throw new EngineError(
          'invalid_batch',
          `Gather "${layer.name}" index at flat position ${i} is ${ids[i]}; ids must be whole numbers in [−${vocabulary}, ${vocabulary}).`,
        );
      }
      for (let j = 0; j < row; j++) flat[i * row + j] = id * row + j;
    }
    return take(data, flat, [...indices.shape, ...data.shape.slice(1)]);
  }
  const axis = num(layer, 'axis');
  const idx = nums(layer, 'indices');
  const outShape = layer.batched ? [data.shape[0], ...layer.outputShape] : layer.outputShape;
  const map = cached(layer, `${data.shape[0]}`, () => gatherMap(data.shape, axis, idx));
  return take(data, map, outShape);
}

/** Pad (zeros): each output element reads the input element `before` positions back, or 0 outside the input. */
function pad(layer: OnnxLayer, x: tf.Tensor): tf.Tensor {
  const before = nums(layer, 'before');
  const outShape = layer.batched ? [x.shape[0], ...layer.outputShape] : layer.outputShape;
  const map = cached(layer, `${x.shape[0]}`, () => {
    const inShape = x.shape;
    const indices = new Int32Array(sizeOf(outShape));
    const out = new Array<number>(outShape.length).fill(0);
    for (let j = 0; j < indices.length; j++) {
      let flat = 0;
      for (let i = 0; i < inShape.length && flat >= 0; i++) {
        const v = out[i] - before[i];
        flat = v < 0 || v >= inShape[i] ? -1 : flat * inShape[i] + v;
      }
      indices[j] = flat;
      for (let i = outShape.length - 1; i >= 0; i--) {
        if (++out[i] < outShape[i]) break;
        out[i] = 0;
      }
    }
    return indices;
  });
  return take(x, map, outShape);
}

function pow(x: tf.Tensor, exponent: number): tf.Tensor {
  switch (exponent) {
    case 0:
      return tf.add(tf.mul(x, 0), 1);
    case 0.5:
      return tf.sqrt(x);
    case -0.5:
      return tf.div(1, tf.sqrt(x));
    case -1:
      return tf.div(1, x);
    default: {
      let y = x;
      for (let i = 1; i < exponent; i++) y = tf.mul(y, x);
      return y;
    }
  }
}

/**
 * Runs one ONNX node. `inputs` are the outputs of `layer.inbound`; `params` holds every weight by initializer
 * name. `split`: this node is a final Softmax/Sigmoid the loss fuses, so its input is returned as the logits.
 */
export function applyOnnxNode(
  layer: OnnxLayer,
  inputs: tf.Tensor[],
  params: Record<string, tf.Tensor>,
  split: boolean,
): tf.Tensor {
  const operand = (o: OnnxOperand | undefined): tf.Tensor | null => {
    if (!o || o.kind === 'absent') return null;
    if (o.kind === 'layer') return inputs[o.index];
    if (o.kind === 'constant') return tf.tensor(Float32Array.from(o.values), o.shape, 'float32');
    const t = params[o.name];
    if (!t) throw new EngineError('invalid_parameters', `No value passed for weight "${o.name}".`);
    return t;
  };
  const at = (i: number) => operand(layer.operands[i])!;
  const x = at(0);
  const fullShape = () => (layer.batched ? [x.shape[0], ...layer.outputShape] : layer.outputShape);
  switch (layer.opType) {
    case 'Add':
      return tf.add(x, at(1));
    case 'Sub':
      return tf.sub(x, at(1));
    case 'Mul':
      return tf.mul(x, at(1));
    case 'Div':
      return tf.div(x, at(1));
    case 'Relu':
      return tf.relu(x);
    case 'LeakyRelu':
      return tf.sub(tf.relu(x), tf.mul(num(layer, 'alpha'), tf.relu(tf.neg(x))));
    case 'Elu':
      return tf.add(tf.relu(x), tf.mul(num(layer, 'alpha'), expm1OfNegativePart(x)));
    case 'Selu':
      return tf.mul(
        num(layer, 'gamma'),
        tf.add(tf.relu(x), tf.mul(num(layer, 'alpha'), expm1OfNegativePart(x))),
      );
    case 'Tanh':
      return tf.tanh(x);
    case 'Sigmoid':
      return split ? x : tf.sigmoid(x);
    case 'Softplus':
      return tf.softplus(x);
    case 'Erf':
      return tf.erf(x);
    case 'Sqrt':
      return tf.sqrt(x);
    case 'Exp':
      return tf.exp(x);
    case 'Log':
      return tf.log(x);
    case 'Neg':
      return tf.neg(x);
    case 'Pow':
      return pow(x, num(layer, 'exponent'));
    case 'Softmax':
      return split ? x : softmaxAlong(x, num(layer, 'axis'), false);
    case 'LogSoftmax':
      return softmaxAlong(x, num(layer, 'axis'), true);
    case 'Gemm': {
      const a = num(layer, 'transA') ? tf.transpose(x) : x;
      const b = num(layer, 'transB') ? tf.transpose(at(1)) : at(1);
      let y = tf.matMul(a, b);
      if (num(layer, 'alpha') !== 1) y = tf.mul(y, num(layer, 'alpha'));
      const c = operand(layer.operands[2]);
      if (c) y = tf.add(y, num(layer, 'beta') === 1 ? c : tf.mul(c, num(layer, 'beta')));
      return y;
    }
    case 'MatMul': {
      const b = at(1);
      if (layer.attributes.mode === 'weight') {
        const k = x.shape[x.rank - 1];
        return tf.reshape(tf.matMul(tf.reshape(x, [-1, k]), b), fullShape());
      }
      const [m, k] = x.shape.slice(-2);
      const n = b.shape[b.rank - 1];
      return tf.reshape(tf.matMul(tf.reshape(x, [-1, m, k]), tf.reshape(b, [-1, k, n])), fullShape());
    }
    case 'Conv':
      return convolution(layer, x, at(1), operand(layer.operands[2]), false);
    case 'ConvTranspose':
      return convolution(layer, x, at(1), operand(layer.operands[2]), true);
    case 'MaxPool':
    case 'AveragePool':
      return pool(layer, x);
    case 'GlobalAveragePool':
      return tf.mean(x, nums(layer, 'axes'), true);
    case 'BatchNormalization': {
      const channels = layer.outputShape[0];
      const along = [1, channels, ...layer.outputShape.slice(1).map(() => 1)];
      const mean = layer.operands[3] as Extract<OnnxOperand, { kind: 'constant' }>;
      const variance = layer.operands[4] as Extract<OnnxOperand, { kind: 'constant' }>;
      const epsilon = num(layer, 'epsilon');
      const inverse = Float32Array.from(variance.values, (v) => 1 / Math.sqrt(v + epsilon));
      const normalized = tf.mul(
        tf.sub(x, tf.tensor(Float32Array.from(mean.values), along)),
        tf.tensor(inverse, along),
      );
      return tf.add(tf.mul(normalized, tf.reshape(at(1), along)), tf.reshape(at(2), along));
    }
    case 'LayerNormalization': {
      const axes = nums(layer, 'axes');
      const centered = tf.sub(x, tf.mean(x, axes, true));
      const variance = tf.mean(tf.square(centered), axes, true);
      let y = tf.div(centered, tf.sqrt(tf.add(variance, num(layer, 'epsilon'))));
      y = tf.mul(y, at(1));
      const bias = operand(layer.operands[2]);
      return bias ? tf.add(y, bias) : y;
    }
    case 'Flatten':
    case 'Reshape':
    case 'Squeeze':
    case 'Unsqueeze':
      return tf.reshape(x, fullShape());
    case 'Transpose':
      return tf.transpose(x, nums(layer, 'perm'));
    case 'Concat':
      return tf.concat(
        layer.operands.map((o) => operand(o)!),
        num(layer, 'axis'),
      );
    case 'Gather':
      return layer.attributes.mode === 'embedding' ? gather(layer, x, at(1)) : gather(layer, x, null);
    case 'Pad':
      return pad(layer, x);
    case 'ReduceMean':
      return tf.mean(x, nums(layer, 'axes'), num(layer, 'keepDims') === 1);
    case 'ReduceSum':
      return tf.sum(x, nums(layer, 'axes'), num(layer, 'keepDims') === 1);
    default:
      throw new EngineError('unsupported_layer', `ONNX op ${layer.opType} has no forward pass.`);
  }
}
