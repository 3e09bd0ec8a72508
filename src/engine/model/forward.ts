/**
 * The network as a pure function f(params, x) of its weights, built only from ops whose derivatives of every
 * order are right in TF.js (see `autodiff/register-all.ts`): convolution is an im2col gather plus matMul, max
 * pooling gathers each window's maximum at indices chosen from the current values (piecewise constant in θ),
 * average pooling gathers and sums, normalizations are written out, softmax is shifted by a constant.
 */
import * as tf from '@tensorflow/tfjs';
import { take } from '../autodiff/take.js';
import { EngineError } from '../../contract/errors.js';
import { sizeOf } from '../../contract/ndarray.js';
import { applyActivation, expm1OfNegativePart } from './activations.js';
import { buildRecurrent } from './recurrent.js';
import { applyOnnxNode } from './onnx-ops.js';
import type { ActivationName } from '../../contract/model/activation-names.js';
import type { LayerSpec, ParsedModel } from '../../contract/model/parsed-model.js';
import { tensorName } from '../../contract/model/topology.js';
import {
  convPatchIndices,
  maxPoolArgmax,
  poolWindowIndices,
  transposedConvPatchIndices,
  windowCounts,
  type WindowGeometry,
  type WindowTemplate,
} from '../../contract/model/window-indices.js';

export type FinalActivation = 'softmax' | 'sigmoid' | 'linear';

export interface ForwardResult {
  /** The network output, or its pre-activation when `finalActivation` is softmax or sigmoid. */
  logits: tf.Tensor;
  finalActivation: FinalActivation;
}

export interface Forward {
  /**
   * Runs the network on a batch. `params` holds every weight by its `layer/weight` name (trainable ones from θ,
   * the rest as constants); `x` is [batch, ...inputShape] (float32; whole numbers for Embedding ids).
   * @throws EngineError('invalid_batch') for an input of the wrong shape or invalid Embedding ids
   */
  forward(params: Record<string, tf.Tensor>, x: tf.Tensor): ForwardResult;
  /** Any model: `xs` in the model's input order; one result per output, in the model's output order. */
  forwardAll(params: Record<string, tf.Tensor>, xs: tf.Tensor[], copies?: ParameterCopies): ForwardResult[];
  /** Whether `forwardAll` takes `copies` for this model (see ParameterCopies). */
  supportsCopies: boolean;
}

/**
 * k copies of the network evaluated in one pass, copy i with its own values θᵢ of the weights named in `names`:
 * those params carry a trailing copy axis [...shape, k] (so that the k copies of a kernel sit side by side as one
 * matrix), the inputs are the batch as usual, and the outputs are copy-major: [k·N, ...], copy i's examples at rows
 * i·N…(i+1)·N−1. This is the direction axis of block products
 * (TF.js has no vmap): the gradient of Σᵢ L(θᵢ) with respect to the stacked [k, P] parameters is the k gradients at
 * once, so k Hessian-vector products cost one traced reverse-over-reverse pass. Dense and convolution layers do the
 * k copies as one batched matMul; other layers with copied weights run once per copy on their rows.
 */
export interface ParameterCopies {
  count: number;
  names: ReadonlySet<string>;
}

/** Layer kinds whose state spans layers (step masks) or whose nodes may run on weights alone (ONNX): no copies. */
const NO_COPIES = new Set<LayerSpec['kind']>(['onnx', 'rnn', 'bidirectional', 'time_distributed', 'masking']);

type LayerOf<K extends LayerSpec['kind']> = Extract<LayerSpec, { kind: K }>;

/** Index arrays depend only on the layer and the input shape, so they are computed once per batch shape. */
class IndexCache {
  private readonly entries = new Map<string, { indices: Int32Array; template: WindowTemplate }>();

  get(key: string, make: () => { indices: Int32Array; template: WindowTemplate }) {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = make();
      this.entries.set(key, entry);
    }
    return entry;
  }
}

function weight(params: Record<string, tf.Tensor>, layer: LayerSpec, name: string): tf.Tensor {
  const t = params[`${layer.name}/${name}`];
  if (!t) throw new EngineError('invalid_parameters', `No value passed for weight "${layer.name}/${name}".`);
  return t;
}

/** Reshapes a per-axis parameter so it broadcasts along `axes` of a tensor of the given shape. */
function alongAxes(p: tf.Tensor, axes: number[], shape: number[]): tf.Tensor {
  const target = shape.map((d, i) => (axes.includes(i) ? d : 1));
  return tf.reshape(p, target);
}

/** NHWC view of a conv/pool input: 1-D layers are 2-D with height 1. */
function geometry(
  layer: LayerOf<'conv'> | LayerOf<'depthwise_conv'> | LayerOf<'pool'>,
  input: number[],
): WindowGeometry {
  const [height, width, channels] = layer.rank === 1 ? [1, input[0], input[1]] : input;
  const window: Pick<WindowGeometry, 'kernel' | 'dilation'> =
    layer.kind !== 'pool'
      ? { kernel: layer.kernelSize, dilation: layer.dilation }
      : { kernel: layer.poolSize, dilation: [1, 1] };
  return { height, width, channels, strides: layer.strides, padding: layer.padding, ...window };
}

/** 1 where x > threshold, else 0, read from the current values: a constant, so no comparison enters the tape. */
function aboveMask(x: tf.Tensor, threshold: number): tf.Tensor {
  const values = x.dataSync();
  const mask = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) mask[i] = values[i] > threshold ? 1 : 0;
  return tf.tensor(mask, x.shape);
}

/**
 * Keras `relu(x, negative_slope, max_value, threshold)` from relu/minimum and a constant mask: x above the
 * threshold (else 0), clipped to [0, max_value], minus negative_slope · relu(threshold − x).
 */
function reluLayer(layer: LayerOf<'relu'>, x: tf.Tensor): tf.Tensor {
  const { negativeSlope, maxValue, threshold } = layer;
  let y = threshold === 0 ? tf.relu(x) : tf.mul(x, aboveMask(x, threshold));
  if (maxValue !== null) y = tf.minimum(tf.relu(y), maxValue);
  if (negativeSlope !== 0) y = tf.sub(y, tf.mul(negativeSlope, tf.relu(tf.sub(threshold, x))));
  return y;
}

/**
 * For an index-only layer, the flat input position (per example) each output element reads, or −1 for a zero:
 * `source` maps an output multi-index to an input multi-index (or null).
 */
function exampleIndexMap(
  inShape: number[],
  outShape: number[],
  source: (out: number[]) => number[] | null,
): Int32Array {
  const size = sizeOf(outShape);
  const map = new Int32Array(size);
  const out = new Array<number>(outShape.length).fill(0);
  for (let j = 0; j < size; j++) {
    const from = source(out);
    let flat = -1;
    if (from && from.every((v, i) => v >= 0 && v < inShape[i])) {
      flat = 0;
      for (let i = 0; i < inShape.length; i++) flat = flat * inShape[i] + from[i];
    }
    map[j] = flat;
    for (let i = outShape.length - 1; i >= 0; i--) {
      if (++out[i] < outShape[i]) break;
      out[i] = 0;
    }
  }
  return map;
}

type IndexLayer = LayerOf<'zero_padding' | 'cropping' | 'upsampling' | 'permute' | 'repeat_vector'>;

/** The output → input map of an index-only layer; spatial layers see 1-D inputs as height 1. */
function indexLayerMap(layer: IndexLayer): Int32Array {
  const input = layer.inputShapes[0];
  const spatial = (f: (hw: [number, number]) => [number, number]) => {
    const lift = (s: number[]) =>
      layer.kind !== 'permute' && layer.kind !== 'repeat_vector' && layer.rank === 1 ? [1, ...s] : s;
    return exampleIndexMap(lift(input), lift(layer.outputShape), (o) => [...f([o[0], o[1]]), o[2]]);
  };
  switch (layer.kind) {
    case 'zero_padding':
      return spatial(([h, w]) => [h - layer.padding[0][0], w - layer.padding[1][0]]);
    case 'cropping':
      return spatial(([h, w]) => [h + layer.cropping[0][0], w + layer.cropping[1][0]]);
    case 'upsampling':
      return spatial(([h, w]) => [Math.floor(h / layer.size[0]), Math.floor(w / layer.size[1])]);
    case 'permute':
      return exampleIndexMap(input, layer.outputShape, (o) => {
        const from = new Array<number>(o.length);
        layer.dims.forEach((d, i) => (from[d - 1] = o[i]));
        return from;
      });
    case 'repeat_vector':
      return exampleIndexMap(input, layer.outputShape, (o) => [o[1]]);
  }
}

/** Elementwise maximum (or minimum) of several tensors as Σ mask_k · x_k, the masks chosen from current values. */
function extremum(inputs: tf.Tensor[], mode: 'maximum' | 'minimum'): tf.Tensor {
  const values = inputs.map((t) => t.dataSync());
  const masks = inputs.map(() => new Float32Array(values[0].length));
  for (let i = 0; i < values[0].length; i++) {
    let best = 0;
    for (let k = 1; k < values.length; k++) {
      if (mode === 'maximum' ? values[k][i] > values[best][i] : values[k][i] < values[best][i]) best = k;
    }
    masks[best][i] = 1;
  }
  return inputs.map((t, k) => tf.mul(t, tf.tensor(masks[k], t.shape))).reduce((sum, t) => tf.add(sum, t));
}

/** Keras's epsilon (backend.epsilon()): the least norm Dot's normalize and Normalization's standard deviation take. */
const KERAS_EPSILON = 1e-7;

/**
 * x / max(‖x‖₂, 1e-7) along `axis`, as Keras 3's normalize. The max is taken with a constant mask chosen from the
 * current values (as max pooling does), so no comparison op enters the tape; the norm is tf.sqrt of the sum of
 * squares, whose gradient is recomputed from its input and so is right to every order.
 */
function l2Normalize(x: tf.Tensor, axis: number): tf.Tensor {
  const sumSquares = tf.sum(tf.square(x), axis, true);
  const values = sumSquares.dataSync();
  const floor = KERAS_EPSILON * KERAS_EPSILON;
  if (values.every((v) => v > floor)) return tf.div(x, tf.sqrt(sumSquares));
  const mask = tf.tensor(
    Float32Array.from(values, (v) => (v > floor ? 1 : 0)),
    sumSquares.shape,
  );
  const off = tf.sub(1, mask);
  // Where the norm is below the floor: sqrt(s + 1)·0 + ε, so neither value nor derivative is infinite.
  const norm = tf.add(tf.mul(mask, tf.sqrt(tf.add(sumSquares, off))), tf.mul(off, KERAS_EPSILON));
  return tf.div(x, norm);
}

/**
 * Keras's batch_dot: input 1's dot axis moved last and input 2's first (after the batch), both flattened to
 * [batch, rest, k] and [batch, k, rest], one batched matMul, then the output shape.
 */
function dotLayer(layer: LayerOf<'dot'>, x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const [a, b] = layer.axes;
  const batch = x.shape[0];
  const k = x.shape[a];
  const others = (rank: number, skip: number) =>
    Array.from({ length: rank - 1 }, (_, i) => i + 1).filter((i) => i !== skip);
  let left = layer.normalize ? l2Normalize(x, a) : x;
  let right = layer.normalize ? l2Normalize(y, b) : y;
  left = tf.reshape(tf.transpose(left, [0, ...others(x.rank, a), a]), [batch, -1, k]);
  right = tf.reshape(tf.transpose(right, [0, b, ...others(y.rank, b)]), [batch, k, -1]);
  return tf.reshape(tf.matMul(left, right), outputShapeOf(layer, batch));
}

/**
 * Normalization: the statistics are constants (non-trainable weights or config values), so the max and sqrt of
 * the variance are never differentiated; only x enters the tape, through one subtraction and one division.
 */
function normalizationLayer(
  layer: LayerOf<'normalization'>,
  x: tf.Tensor,
  params: Record<string, tf.Tensor>,
): tf.Tensor {
  const broadcast = x.shape.map((d, i) => (layer.axes.includes(i) ? d : 1));
  const stat = (name: 'mean' | 'variance') =>
    tf.reshape(layer.stats ? tf.tensor(layer.stats[name]) : weight(params, layer, name), broadcast);
  const mean = stat('mean');
  const deviation = tf.maximum(tf.sqrt(stat('variance')), KERAS_EPSILON);
  return layer.invert ? tf.add(mean, tf.mul(x, deviation)) : tf.div(tf.sub(x, mean), deviation);
}

const first = (result: tf.Tensor | tf.Tensor[]) => (Array.isArray(result) ? result[0] : result);

function outputShapeOf(layer: LayerSpec, batch: number): number[] {
  return [batch, ...layer.outputShape];
}

/**
 * Builds f(θ, x) for a parsed model. When the output layer ends in softmax or sigmoid (as a layer activation or a
 * trailing Activation layer), the result is split before it: `logits` is the pre-activation and
 * `finalActivation` names what the loss must fuse; otherwise the full output is returned with 'linear'.
 */
export function buildForward(model: ParsedModel): Forward {
  const cache = new IndexCache();
  /** Recurrent layers, TimeDistributed and Masking (`recurrent.ts`), with the step masks of the current pass. */
  const recurrent = buildRecurrent(model);
  /** Per-example output → input maps of the index-only layers (padding, cropping, upsampling, ...). */
  const indexMaps = new Map<string, Int32Array>();
  /** Per output, the softmax/sigmoid left for the loss to fuse, and the layers whose activation is so left out. */
  const fusedOf = model.outputs.map(({ finalActivation: { activation } }): FinalActivation =>
    activation === 'softmax' || activation === 'sigmoid' ? activation : 'linear',
  );
  const splitLayers = new Set(
    model.outputs.filter((_, k) => fusedOf[k] !== 'linear').map((o) => o.finalActivation.layer),
  );
  const inputIndex = new Map(model.inputs.map((input, i) => [input.name, i]));

  const activate = (layer: LayerSpec, activation: ActivationName, z: tf.Tensor) =>
    splitLayers.has(layer.name) ? z : applyActivation(activation, z);

  /**
   * The weight copies of the pass running now (none outside block products, or inside a per-copy layer), and
   * whether the layer being applied reads rows shared by every copy (computed from the inputs alone, not tiled).
   */
  let copiesNow: ParameterCopies | undefined;
  let sharedRows = false;

  /**
   * rows · kernel + bias for rows [R, depth] and a layer's `kernel` (depth·out entries) and optional `bias`. With
   * copies, a copied weight carries the copy axis, and the result is k copy-major blocks [k·R', out]:
   * - rows shared by every copy (R' = R): one matMul with the copies' kernels side by side, [R, depth]·[depth, k·out],
   *   which keeps wasm on its fast 2-D matMul (a batched one is ~20× slower there);
   * - rows already k copy-major blocks (R' = R/k): one batched matMul [k, R/k, depth]·[k, depth, out].
   */
  const affine = (
    rows: tf.Tensor,
    layer: LayerSpec,
    params: Record<string, tf.Tensor>,
    useBias: boolean,
  ): tf.Tensor => {
    const [r, depth] = rows.shape;
    const kernel = weight(params, layer, 'kernel');
    const bias = useBias ? weight(params, layer, 'bias') : null;
    const copied = (name: string) => copiesNow?.names.has(`${layer.name}/${name}`) ?? false;
    const k = copiesNow?.count ?? 1;
    const kernelCopied = copied('kernel');
    const biasCopied = bias !== null && copied('bias');
    if (k === 1 || (!kernelCopied && !biasCopied)) {
      const z = tf.matMul(rows, tf.reshape(kernel, [depth, -1]));
      return bias ? tf.add(z, bias) : z;
    }
    const blocks = sharedRows ? r : r / k;
    let z: tf.Tensor; // [k, blocks, out]
    if (kernelCopied && sharedRows) {
      // [R, depth]·[depth, out·k]: the copies' kernels side by side are the stored [depth, out, k] as it is.
      z = tf.transpose(tf.reshape(tf.matMul(rows, tf.reshape(kernel, [depth, -1])), [r, -1, k]), [2, 0, 1]);
    } else if (kernelCopied) {
      const perCopy = tf.transpose(tf.reshape(kernel, [depth, -1, k]), [2, 0, 1]);
      z = tf.matMul(tf.reshape(rows, [k, blocks, depth]), perCopy);
    } else {
      const product = tf.matMul(rows, tf.reshape(kernel, [depth, -1]));
      z = tf.reshape(product, sharedRows ? [1, r, -1] : [k, blocks, -1]);
    }
    if (bias) z = tf.add(z, biasCopied ? tf.reshape(tf.transpose(bias), [k, 1, -1]) : bias);
    if (sharedRows && !kernelCopied && !biasCopied) z = tf.add(z, tf.zeros([k, 1, 1]));
    return tf.reshape(z, [k * blocks, -1]);
  };

  const conv = (layer: LayerOf<'conv'>, x: tf.Tensor, params: Record<string, tf.Tensor>) => {
    const batch = x.shape[0];
    const g = geometry(layer, layer.inputShapes[0]);
    const { indices, template } = cache.get(`${layer.name}|${batch}`, () => convPatchIndices(g, batch));
    const depth = layer.kernelSize[0] * layer.kernelSize[1] * g.channels;
    const patches = take(x, indices, [batch * template.outHeight * template.outWidth, depth]);
    const z = affine(patches, layer, params, layer.useBias);
    return activate(layer, layer.activation, tf.reshape(z, [-1, ...layer.outputShape]));
  };

  /**
   * Depthwise convolution as im2col patches [pixels, kh·kw, cin, 1] times the kernel [1, kh·kw, cin, multiplier],
   * summed over the window; SeparableConv2D then multiplies by the pointwise kernel.
   */
  const depthwiseConv = (
    layer: LayerOf<'depthwise_conv'>,
    x: tf.Tensor,
    params: Record<string, tf.Tensor>,
  ) => {
    const batch = x.shape[0];
    const g = geometry(layer, layer.inputShapes[0]);
    const { indices, template } = cache.get(`${layer.name}|${batch}`, () => convPatchIndices(g, batch));
    const pixels = batch * template.outHeight * template.outWidth;
    const window = layer.kernelSize[0] * layer.kernelSize[1];
    const m = layer.depthMultiplier;
    const patches = take(x, indices, [pixels, window, g.channels, 1]);
    const kernel = tf.reshape(weight(params, layer, 'depthwise_kernel'), [1, window, g.channels, m]);
    let z = tf.reshape(tf.sum(tf.mul(patches, kernel), 1), [pixels, g.channels * m]);
    if (layer.pointwiseFilters !== null) {
      const pointwise = weight(params, layer, 'pointwise_kernel');
      z = tf.matMul(z, tf.reshape(pointwise, [g.channels * m, layer.pointwiseFilters]));
    }
    if (layer.useBias) z = tf.add(z, weight(params, layer, 'bias'));
    return activate(layer, layer.activation, tf.reshape(z, outputShapeOf(layer, batch)));
  };

  /** Transposed convolution as a gather of the input pixels each output pixel receives, times the kernel. */
  const convTranspose = (
    layer: LayerOf<'conv_transpose'>,
    x: tf.Tensor,
    params: Record<string, tf.Tensor>,
  ) => {
    const batch = x.shape[0];
    const [height, width, channels] = layer.inputShapes[0];
    const [outH, outW] = layer.outputShape;
    const g = {
      height,
      width,
      channels,
      kernel: layer.kernelSize,
      strides: layer.strides,
      padding: layer.padding,
    };
    const { indices } = cache.get(`${layer.name}|${batch}`, () => ({
      indices: transposedConvPatchIndices(g, outH, outW, batch),
      template: { outHeight: outH, outWidth: outW, windowSize: 0, spatial: new Int32Array(0) },
    }));
    const depth = layer.kernelSize[0] * layer.kernelSize[1] * channels;
    const patches = take(x, indices, [batch * outH * outW, depth]);
    const kernel = tf.transpose(weight(params, layer, 'kernel'), [0, 1, 3, 2]);
    let z = tf.matMul(patches, tf.reshape(kernel, [depth, layer.filters]));
    if (layer.useBias) z = tf.add(z, weight(params, layer, 'bias'));
    return activate(layer, layer.activation, tf.reshape(z, outputShapeOf(layer, batch)));
  };

  const pool = (layer: LayerOf<'pool'>, x: tf.Tensor) => {
    const batch = x.shape[0];
    const g = geometry(layer, layer.inputShapes[0]);
    const { indices, template } = cache.get(`${layer.name}|${batch}`, () => poolWindowIndices(g, batch));
    const outShape = outputShapeOf(layer, batch);
    if (layer.mode === 'max') {
      return take(x, maxPoolArgmax(x.dataSync(), g, template, batch), outShape);
    }
    const windows = take(x, indices, [
      batch,
      template.outHeight,
      template.outWidth,
      g.channels,
      template.windowSize,
    ]);
    const counts = tf.tensor(windowCounts(template), [template.outHeight, template.outWidth, 1]);
    return tf.reshape(tf.div(tf.sum(windows, -1), counts), outShape);
  };

  const embedding = (layer: LayerOf<'embedding'>, x: tf.Tensor, params: Record<string, tf.Tensor>) => {
    const ids = x.dataSync();
    const indices = new Int32Array(ids.length * layer.outputDim);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= layer.inputDim) {
        throw new EngineError(
          'invalid_batch',
          `Embedding "${layer.name}" input at flat position ${i} is ${id}; ids must be whole numbers in [0, ${layer.inputDim}).`,
        );
      }
      for (let j = 0; j < layer.outputDim; j++) indices[i * layer.outputDim + j] = id * layer.outputDim + j;
    }
    return take(weight(params, layer, 'embeddings'), indices, [...x.shape, layer.outputDim]);
  };

  const batchNorm = (layer: LayerOf<'batch_norm'>, x: tf.Tensor, params: Record<string, tf.Tensor>) => {
    const along = (p: tf.Tensor) => alongAxes(p, [layer.axis], x.shape);
    const mean = along(weight(params, layer, 'moving_mean'));
    const variance = along(weight(params, layer, 'moving_variance'));
    let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, layer.epsilon)));
    if (layer.scale) y = tf.mul(y, along(weight(params, layer, 'gamma')));
    if (layer.center) y = tf.add(y, along(weight(params, layer, 'beta')));
    return y;
  };

  const layerNorm = (layer: LayerOf<'layer_norm'>, x: tf.Tensor, params: Record<string, tf.Tensor>) => {
    const centered = tf.sub(x, tf.mean(x, layer.axes, true));
    const variance = tf.mean(tf.square(centered), layer.axes, true);
    let y = tf.div(centered, tf.sqrt(tf.add(variance, layer.epsilon)));
    const along = (p: tf.Tensor) => alongAxes(p, layer.axes, x.shape);
    if (layer.scale) y = tf.mul(y, along(weight(params, layer, 'gamma')));
    if (layer.center) y = tf.add(y, along(weight(params, layer, 'beta')));
    return y;
  };

  /** A layer's output, or its outputs when it has several (a recurrent layer's final states with return_state). */
  const apply = (
    layer: LayerSpec,
    inputs: tf.Tensor[],
    params: Record<string, tf.Tensor>,
  ): tf.Tensor | tf.Tensor[] => {
    if (layer.kind === 'onnx') return applyOnnxNode(layer, inputs, params, splitLayers.has(layer.name));
    const x = inputs[0];
    const batch = x.shape[0];
    switch (layer.kind) {
      case 'input':
        return x;
      case 'dense': {
        const inDim = layer.inputShapes[0][layer.inputShapes[0].length - 1];
        const rows = tf.reshape(x, [-1, inDim]);
        const z = affine(rows, layer, params, layer.useBias);
        return activate(layer, layer.activation, tf.reshape(z, [-1, ...layer.outputShape]));
      }
      case 'conv':
        return conv(layer, x, params);
      case 'depthwise_conv':
        return depthwiseConv(layer, x, params);
      case 'conv_transpose':
        return convTranspose(layer, x, params);
      case 'pool':
        return pool(layer, x);
      case 'global_avg_pool':
        return tf.mean(x, layer.rank === 1 ? [1] : [1, 2], layer.keepDims);
      case 'flatten':
      case 'reshape':
        return tf.reshape(x, outputShapeOf(layer, batch));
      case 'identity':
        return x;
      case 'batch_norm':
        return batchNorm(layer, x, params);
      case 'layer_norm':
        return layerNorm(layer, x, params);
      case 'embedding':
        recurrent.noteIds(layer, x);
        return embedding(layer, x, params);
      case 'activation':
        return activate(layer, layer.activation, x);
      case 'relu':
        return reluLayer(layer, x);
      case 'elu':
        return tf.add(tf.relu(x), tf.mul(layer.alpha, expm1OfNegativePart(x)));
      case 'prelu':
        return tf.sub(tf.relu(x), tf.mul(weight(params, layer, 'alpha'), tf.relu(tf.neg(x))));
      case 'rescaling':
        return tf.add(tf.mul(x, layer.scale), layer.offset);
      case 'add':
        return inputs.slice(1).reduce((sum, t) => tf.add(sum, t), x);
      case 'merge':
        switch (layer.mode) {
          case 'multiply':
            return inputs.slice(1).reduce((p, t) => tf.mul(p, t), x);
          case 'subtract':
            return tf.sub(x, inputs[1]);
          case 'average':
            return tf.div(
              inputs.slice(1).reduce((sum, t) => tf.add(sum, t), x),
              inputs.length,
            );
          default:
            return extremum(inputs, layer.mode);
        }
      case 'zero_padding':
      case 'cropping':
      case 'upsampling':
      case 'permute':
      case 'repeat_vector': {
        let perExample = indexMaps.get(layer.name);
        if (!perExample) {
          perExample = indexLayerMap(layer);
          indexMaps.set(layer.name, perExample);
        }
        const inSize = sizeOf(layer.inputShapes[0]);
        const indices = new Int32Array(batch * perExample.length);
        for (let b = 0; b < batch; b++) {
          for (let j = 0; j < perExample.length; j++) {
            const k = perExample[j];
            indices[b * perExample.length + j] = k < 0 ? -1 : b * inSize + k;
          }
        }
        return take(x, indices, outputShapeOf(layer, batch));
      }
      case 'concatenate':
        return tf.concat(inputs, layer.axis);
      case 'dot':
        return dotLayer(layer, inputs[0], inputs[1]);
      case 'normalization':
        return normalizationLayer(layer, x, params);
      case 'masking':
        return recurrent.masking(layer, x);
      case 'rnn':
        return recurrent.rnn(layer, x, params, inputs.slice(1));
      case 'bidirectional':
        return recurrent.bidirectional(layer, x, params, inputs.slice(1));
      case 'time_distributed':
        return recurrent.timeDistributed(layer, x, (inner, folded) => first(apply(inner, [folded], params)));
    }
  };

  /** Layers whose weights include copied ones, and whether their kind does the copies itself (Dense, Conv). */
  const copiedLayer = (layer: LayerSpec, copies: ParameterCopies): boolean => {
    for (const name of copies.names) if (name.startsWith(`${layer.name}/`)) return true;
    return false;
  };
  const COPIES_INSIDE = new Set<LayerSpec['kind']>(['dense', 'conv']);

  /** A layer with copied weights that does not batch them itself: once per copy on that copy's rows. */
  const applyPerCopy = (
    layer: LayerSpec,
    inputs: tf.Tensor[],
    shared: boolean[],
    params: Record<string, tf.Tensor>,
    copies: ParameterCopies,
  ): tf.Tensor | tf.Tensor[] => {
    const k = copies.count;
    const pieces = inputs.map((t, j) => (shared[j] ? new Array<tf.Tensor>(k).fill(t) : tf.split(t, k, 0)));
    const perCopy: (tf.Tensor | tf.Tensor[])[] = [];
    copiesNow = undefined;
    sharedRows = false;
    try {
      for (let i = 0; i < k; i++) {
        const own: Record<string, tf.Tensor> = { ...params };
        for (const name of copies.names) {
          if (!name.startsWith(`${layer.name}/`)) continue;
          const p = params[name];
          const start = p.shape.map((_, axis) => (axis === p.rank - 1 ? i : 0));
          const size = p.shape.map((d, axis) => (axis === p.rank - 1 ? 1 : d));
          own[name] = tf.reshape(tf.slice(p, start, size), p.shape.slice(0, -1));
        }
        perCopy.push(
          apply(
            layer,
            pieces.map((p) => p[i]),
            own,
          ),
        );
      }
    } finally {
      copiesNow = copies;
    }
    if (!Array.isArray(perCopy[0])) return tf.concat(perCopy as tf.Tensor[], 0);
    return (perCopy[0] as tf.Tensor[]).map((_, j) =>
      tf.concat(
        perCopy.map((r) => (r as tf.Tensor[])[j]),
        0,
      ),
    );
  };

  const supportsCopies = model.layers.every((l) => !NO_COPIES.has(l.kind));

  const forwardAll = (
    params: Record<string, tf.Tensor>,
    xs: tf.Tensor[],
    copies?: ParameterCopies,
  ): ForwardResult[] => {
    if (copies && copies.count > 1) {
      if (!supportsCopies) throw new Error('forwardAll: this model does not take parameter copies');
      copiesNow = copies;
      try {
        return runLayers(params, xs, copies);
      } finally {
        copiesNow = undefined;
      }
    }
    return runLayers(params, xs, undefined);
  };

  const runLayers = (
    params: Record<string, tf.Tensor>,
    xs: tf.Tensor[],
    copies: ParameterCopies | undefined,
  ): ForwardResult[] => {
    if (xs.length !== model.inputs.length) {
      throw new EngineError(
        'invalid_batch',
        `The model has ${model.inputs.length} inputs; got ${xs.length} arrays.`,
      );
    }
    const layerOf = new Map(model.layers.map((l) => [l.name, l]));
    model.inputs.forEach((input, i) => {
      const shape = layerOf.get(input.name)!.outputShape;
      const x = xs[i];
      if (x.rank !== shape.length + 1 || shape.some((d, axis) => x.shape[axis + 1] !== d)) {
        throw new EngineError(
          'invalid_batch',
          `The model expects ${input.name} of shape [N, ${shape.join(', ')}], got [${x.shape.join(', ')}].`,
        );
      }
    });
    const outputs = new Map<string, tf.Tensor>();
    // With copies: the tensors that carry the copy axis (k·N rows); the rest are computed from the inputs alone
    // and shared by every copy, so they are never tiled until a layer must mix them with copied ones.
    const copiedTensors = new Set<string>();
    const k = copies?.count ?? 1;
    const tiled = (t: tf.Tensor) => tf.concat(new Array<tf.Tensor>(k).fill(t), 0);
    for (const layer of model.layers) {
      if (layer.kind === 'input') {
        const x = xs[inputIndex.get(layer.name)!];
        outputs.set(layer.name, x.dtype === 'float32' ? x : tf.cast(x, 'float32'));
        continue;
      }
      let inputs = layer.inbound.map((name) => outputs.get(name)!);
      let result: tf.Tensor | tf.Tensor[];
      let copiedOut = false;
      if (!copies) {
        result = apply(layer, inputs, params);
      } else {
        const shared = layer.inbound.map((name) => !copiedTensors.has(name));
        const ownCopies = copiedLayer(layer, copies);
        copiedOut = ownCopies || !shared.every(Boolean);
        if (ownCopies && !COPIES_INSIDE.has(layer.kind)) {
          result = applyPerCopy(layer, inputs, shared, params, copies);
        } else {
          if (copiedOut && !shared.every((s) => !s) && !(ownCopies && shared.every(Boolean))) {
            inputs = inputs.map((t, j) => (shared[j] ? tiled(t) : t)); // mixed: tile the shared ones
          }
          sharedRows = ownCopies && shared.every(Boolean);
          try {
            result = apply(layer, inputs, params);
          } finally {
            sharedRows = false;
          }
        }
      }
      const names = Array.isArray(result) ? result.map((_, j) => tensorName(layer.name, j)) : [layer.name];
      (Array.isArray(result) ? result : [result]).forEach((t, j) => {
        outputs.set(names[j], t);
        if (copiedOut) copiedTensors.add(names[j]);
      });
    }
    return model.outputs.map((output, j) => {
      let logits = outputs.get(output.name)!;
      if (copies && !copiedTensors.has(output.name)) logits = tiled(logits); // an output no copied weight reaches
      const expected = layerOf.get(output.name)!.outputShape;
      if (sizeOf(logits.shape) !== k * xs[0].shape[0] * sizeOf(expected)) {
        throw new EngineError(
          'invalid_model',
          `The forward pass produced shape [${logits.shape.join(', ')}] for output ${output.name}.`,
        );
      }
      return { logits, finalActivation: fusedOf[j] };
    });
  };

  return {
    forwardAll,
    supportsCopies,
    forward(params, x) {
      if (model.inputs.length !== 1 || model.outputs.length !== 1) {
        throw new EngineError(
          'invalid_model',
          'forward() takes single-input, single-output models; use forwardAll() for this one.',
        );
      }
      return forwardAll(params, [x])[0];
    },
  };
}
