/**
 * One builder per supported Keras layer class: reads its config, checks the options the engine supports,
 * infers its output shape and declares its weights in Keras order (tf-free).
 */
import { EngineError } from '../errors.js';
import { sizeOf } from '../ndarray.js';
import { normalizeActivation } from './activation-names.js';
import type { LayerOp, Padding, Shape } from './parsed-model.js';
import { RECURRENT_BUILDERS, timeDistributed } from './recurrent-builders.js';
import { fail } from './layer-errors.js';
import type { RawLayer } from './topology.js';
import { windowOutputLength } from './window-indices.js';

export interface WeightDecl {
  /** The weight's name inside its layer: `kernel`, `bias`, `gamma`, `moving_mean`, ... */
  name: string;
  shape: number[];
  trainable: boolean;
  /**
   * A weight the layer may carry but the engine never reads (Normalization's `count`, an int64 the converter writes
   * as int32): its manifest entry is accounted for in any dtype, and it may be absent.
   */
  unread?: boolean;
}

export interface BuiltLayer {
  op: LayerOp;
  outputShape: Shape;
  /** Shapes of the layer's further outputs (a recurrent layer's states with return_state), read as `name:k`. */
  extraOutputShapes?: Shape[];
  weights: WeightDecl[];
}

type Builder = (layer: RawLayer, inputs: Shape[], trainable: boolean) => BuiltLayer;

/** Layers that do nothing at inference time. */
const INFERENCE_NO_OPS = [
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ActivityRegularization',
];

function num(layer: RawLayer, key: string, fallback?: number): number {
  const v = layer.config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(layer, `config "${key}" must be a number.`);
  return v;
}

function bool(layer: RawLayer, key: string, fallback: boolean): boolean {
  const v = layer.config[key] ?? fallback;
  if (typeof v !== 'boolean') fail(layer, `config "${key}" must be a boolean.`);
  return v;
}

/** A window/stride/dilation option for a 1-D or 2-D layer, as [height, width] (height 1 in 1-D). */
function pair(
  layer: RawLayer,
  key: string,
  rank: 1 | 2,
  fallback: number | number[] | null,
): [number, number] {
  let v = layer.config[key] ?? fallback;
  if (typeof v === 'number') v = rank === 1 ? [v] : [v, v];
  if (!Array.isArray(v) || v.length !== rank || v.some((e) => !Number.isInteger(e) || e < 1)) {
    fail(layer, `config "${key}" must be ${rank} positive integer(s), got ${JSON.stringify(v)}.`);
  }
  return rank === 1 ? [1, v[0]] : [v[0], v[1]];
}

function padding(layer: RawLayer): Padding {
  const p = layer.config.padding ?? 'valid';
  if (p === 'valid' || p === 'same') return p;
  return fail(layer, `padding "${String(p)}" is not supported (valid or same).`, 'unsupported_layer');
}

function channelsLast(layer: RawLayer): void {
  const format = layer.config.data_format;
  if (format !== undefined && format !== null && format !== 'channels_last') {
    fail(layer, `data_format "${String(format)}" is not supported; only channels_last.`, 'unsupported_layer');
  }
}

function one(layer: RawLayer, inputs: Shape[]): Shape {
  if (inputs.length !== 1) fail(layer, `expects one input, got ${inputs.length}.`);
  return inputs[0];
}

function rankOf(layer: RawLayer, input: Shape, rank: number, what: string): void {
  if (input.length !== rank) {
    fail(
      layer,
      `expects ${what} input of rank ${rank + 1} (with batch), got shape [null, ${input.join(', ')}].`,
    );
  }
}

/**
 * The window of a convolution (Conv1D/2D, DepthwiseConv2D, SeparableConv1D/2D): kernel, strides, dilation and
 * padding read and checked, and the output size. 1-D is 2-D with height 1.
 */
function convWindow(layer: RawLayer, input: number[], rank: 1 | 2) {
  const pad = padding(layer);
  const kernelSize = pair(layer, 'kernel_size', rank, null);
  const strides = pair(layer, 'strides', rank, 1);
  const dilation = pair(layer, 'dilation_rate', rank, 1);
  if (strides.some((st) => st > 1) && dilation.some((d) => d > 1)) {
    fail(layer, 'strides > 1 together with dilation_rate > 1 is not supported (TensorFlow rejects it too).');
  }
  const [h, w, cin] = rank === 1 ? [1, input[0], input[1]] : input;
  const outH = windowOutputLength(h, kernelSize[0], strides[0], dilation[0], pad);
  const outW = windowOutputLength(w, kernelSize[1], strides[1], dilation[1], pad);
  if (outH < 1 || outW < 1) fail(layer, `the kernel does not fit the input [${input.join(', ')}].`);
  return { pad, kernelSize, strides, dilation, cin, outH, outW };
}

/** Resolves a possibly negative axis of a per-example shape to an axis counting the batch (≥ 1). */
function batchAxis(layer: RawLayer, axis: unknown, input: Shape): number {
  const rank = input.length + 1;
  if (Array.isArray(axis) && axis.length === 1) axis = axis[0];
  if (typeof axis !== 'number' || !Number.isInteger(axis))
    fail(layer, `axis ${JSON.stringify(axis)} is invalid.`);
  const resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 1 || resolved >= rank) fail(layer, `axis ${axis} is out of range for input rank ${rank}.`);
  return resolved;
}

const dense: Builder = (layer, inputs, trainable) => {
  const input = one(layer, inputs);
  if (input.length < 1) fail(layer, 'expects an input of rank ≥ 2.');
  const units = num(layer, 'units');
  const useBias = bool(layer, 'use_bias', true);
  const weights: WeightDecl[] = [{ name: 'kernel', shape: [input[input.length - 1], units], trainable }];
  if (useBias) weights.push({ name: 'bias', shape: [units], trainable });
  const activation = normalizeActivation(layer.config.activation, layer.name, layer.className);
  return {
    op: { kind: 'dense', units, useBias, activation },
    outputShape: [...input.slice(0, -1), units],
    weights,
  };
};

const conv =
  (rank: 1 | 2): Builder =>
  (layer, inputs, trainable) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D convolution`);
    channelsLast(layer);
    const groups = layer.config.groups ?? 1;
    if (groups !== 1) fail(layer, `groups=${String(groups)} is not supported (only 1).`, 'unsupported_layer');
    const filters = num(layer, 'filters');
    const { pad, kernelSize, strides, dilation, cin, outH, outW } = convWindow(layer, input, rank);
    const useBias = bool(layer, 'use_bias', true);
    const kernelShape = rank === 1 ? [kernelSize[1], cin, filters] : [...kernelSize, cin, filters];
    const weights: WeightDecl[] = [{ name: 'kernel', shape: kernelShape, trainable }];
    if (useBias) weights.push({ name: 'bias', shape: [filters], trainable });
    const activation = normalizeActivation(layer.config.activation, layer.name, layer.className);
    return {
      op: { kind: 'conv', rank, filters, kernelSize, strides, dilation, padding: pad, useBias, activation },
      outputShape: rank === 1 ? [outW, filters] : [outH, outW, filters],
      weights,
    };
  };

/**
 * DepthwiseConv2D (`separable` false) and SeparableConv1D/2D (`separable` true): a per-channel convolution with
 * depth_multiplier filters per input channel, followed for the separable layers by a 1×1 convolution. 1-D is 2-D
 * with height 1; its kernels drop the height axis ([k, cin, m] and [1, cin·m, filters]).
 */
const depthwiseConv =
  (separable: boolean, rank: 1 | 2 = 2): Builder =>
  (layer, inputs, trainable) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D convolution`);
    channelsLast(layer);
    const depthMultiplier = num(layer, 'depth_multiplier', 1);
    if (!Number.isInteger(depthMultiplier) || depthMultiplier < 1) {
      fail(layer, `depth_multiplier ${depthMultiplier} must be a positive integer.`);
    }
    const pointwiseFilters = separable ? num(layer, 'filters') : null;
    if (pointwiseFilters !== null && (!Number.isInteger(pointwiseFilters) || pointwiseFilters < 1)) {
      fail(layer, `filters ${pointwiseFilters} must be a positive integer.`);
    }
    const { pad, kernelSize, strides, dilation, cin, outH, outW } = convWindow(layer, input, rank);
    const useBias = bool(layer, 'use_bias', true);
    const depth = cin * depthMultiplier;
    const window = rank === 1 ? [kernelSize[1]] : kernelSize;
    const weights: WeightDecl[] = [
      { name: 'depthwise_kernel', shape: [...window, cin, depthMultiplier], trainable },
    ];
    if (pointwiseFilters !== null) {
      const ones = rank === 1 ? [1] : [1, 1];
      weights.push({ name: 'pointwise_kernel', shape: [...ones, depth, pointwiseFilters], trainable });
    }
    const outChannels = pointwiseFilters ?? depth;
    if (useBias) weights.push({ name: 'bias', shape: [outChannels], trainable });
    const activation = normalizeActivation(layer.config.activation, layer.name, layer.className);
    return {
      op: {
        kind: 'depthwise_conv',
        rank,
        depthMultiplier,
        pointwiseFilters,
        kernelSize,
        strides,
        dilation,
        padding: pad,
        useBias,
        activation,
      },
      outputShape: rank === 1 ? [outW, outChannels] : [outH, outW, outChannels],
      weights,
    };
  };

/** Keras's deconv_output_length: in·stride (same) or in·stride + max(k − stride, 0) (valid). */
function transposedLength(input: number, k: number, stride: number, pad: Padding): number {
  return pad === 'same' ? input * stride : input * stride + Math.max(k - stride, 0);
}

const convTranspose: Builder = (layer, inputs, trainable) => {
  const input = one(layer, inputs);
  rankOf(layer, input, 3, 'a 2-D convolution');
  channelsLast(layer);
  const pad = padding(layer);
  const filters = num(layer, 'filters');
  const kernelSize = pair(layer, 'kernel_size', 2, null);
  const strides = pair(layer, 'strides', 2, 1);
  const dilation = pair(layer, 'dilation_rate', 2, 1);
  if (dilation.some((d) => d > 1)) {
    fail(layer, 'dilation_rate > 1 is not supported for Conv2DTranspose.', 'unsupported_layer');
  }
  const outputPadding = layer.config.output_padding;
  if (outputPadding !== undefined && outputPadding !== null) {
    fail(layer, 'output_padding is not supported.', 'unsupported_layer');
  }
  const [h, w, cin] = input;
  const useBias = bool(layer, 'use_bias', true);
  const weights: WeightDecl[] = [{ name: 'kernel', shape: [...kernelSize, filters, cin], trainable }];
  if (useBias) weights.push({ name: 'bias', shape: [filters], trainable });
  const activation = normalizeActivation(layer.config.activation, layer.name, layer.className);
  return {
    op: { kind: 'conv_transpose', filters, kernelSize, strides, padding: pad, useBias, activation },
    outputShape: [
      transposedLength(h, kernelSize[0], strides[0], pad),
      transposedLength(w, kernelSize[1], strides[1], pad),
      filters,
    ],
    weights,
  };
};

/** GlobalMaxPooling1D/2D: max pooling with one window covering the whole input. */
const globalMaxPool =
  (rank: 1 | 2): Builder =>
  (layer, inputs) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D global pooling`);
    channelsLast(layer);
    const keepDims = bool(layer, 'keepdims', false);
    const [h, w, c] = rank === 1 ? [1, input[0], input[1]] : input;
    return {
      op: { kind: 'pool', mode: 'max', rank, poolSize: [h, w], strides: [h, w], padding: 'valid' },
      outputShape: keepDims ? [...Array(rank).fill(1), c] : [c],
      weights: [],
    };
  };

const pool =
  (mode: 'max' | 'avg', rank: 1 | 2): Builder =>
  (layer, inputs) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D pooling`);
    channelsLast(layer);
    const pad = padding(layer);
    const poolSize = pair(layer, 'pool_size', rank, 2);
    const strides = layer.config.strides == null ? poolSize : pair(layer, 'strides', rank, null);
    const [h, w, c] = rank === 1 ? [1, input[0], input[1]] : input;
    const outH = windowOutputLength(h, poolSize[0], strides[0], 1, pad);
    const outW = windowOutputLength(w, poolSize[1], strides[1], 1, pad);
    if (outH < 1 || outW < 1) fail(layer, `the pool window does not fit the input [${input.join(', ')}].`);
    return {
      op: { kind: 'pool', mode, rank, poolSize, strides, padding: pad },
      outputShape: rank === 1 ? [outW, c] : [outH, outW, c],
      weights: [],
    };
  };

const globalAveragePool =
  (rank: 1 | 2): Builder =>
  (layer, inputs) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D global pooling`);
    channelsLast(layer);
    const keepDims = bool(layer, 'keepdims', false);
    const c = input[rank];
    return {
      op: { kind: 'global_avg_pool', rank, keepDims },
      outputShape: keepDims ? [...Array(rank).fill(1), c] : [c],
      weights: [],
    };
  };

const flatten: Builder = (layer, inputs) => {
  channelsLast(layer);
  return { op: { kind: 'flatten' }, outputShape: [sizeOf(one(layer, inputs))], weights: [] };
};

const reshape: Builder = (layer, inputs) => {
  const input = one(layer, inputs);
  const target = layer.config.target_shape;
  if (!Array.isArray(target) || target.some((d) => !Number.isInteger(d) || (d < 1 && d !== -1))) {
    fail(layer, `target_shape ${JSON.stringify(target)} is invalid.`);
  }
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const unknown = target.filter((d) => d === -1).length;
  const total = sizeOf(input);
  const resolved = target.map((d) => (d === -1 ? total / known : d));
  if (unknown > 1 || sizeOf(resolved) !== total || !resolved.every(Number.isInteger)) {
    fail(layer, `cannot reshape [${input.join(', ')}] (${total} values) to [${target.join(', ')}].`);
  }
  return { op: { kind: 'reshape', targetShape: resolved }, outputShape: resolved, weights: [] };
};

const identity: Builder = (layer, inputs) => ({
  op: { kind: 'identity' },
  outputShape: one(layer, inputs),
  weights: [],
});

const batchNorm: Builder = (layer, inputs, trainable) => {
  const input = one(layer, inputs);
  const axis = batchAxis(layer, layer.config.axis ?? -1, input);
  const center = bool(layer, 'center', true);
  const scale = bool(layer, 'scale', true);
  const dim = [input[axis - 1]];
  const weights = scaleAndShift(scale, center, dim, trainable);
  weights.push({ name: 'moving_mean', shape: dim, trainable: false });
  weights.push({ name: 'moving_variance', shape: dim, trainable: false });
  return {
    op: { kind: 'batch_norm', axis, epsilon: num(layer, 'epsilon', 1e-3), center, scale },
    outputShape: input,
    weights,
  };
};

/** A normalisation layer's learned scale (gamma) and shift (beta), in Keras's weight order. */
function scaleAndShift(scale: boolean, center: boolean, shape: number[], trainable: boolean): WeightDecl[] {
  const weights: WeightDecl[] = [];
  if (scale) weights.push({ name: 'gamma', shape, trainable });
  if (center) weights.push({ name: 'beta', shape, trainable });
  return weights;
}

const layerNorm: Builder = (layer, inputs, trainable) => {
  const input = one(layer, inputs);
  if (layer.config.rms_scaling === true) fail(layer, 'rms_scaling is not supported.', 'unsupported_layer');
  const rawAxes = layer.config.axis ?? -1;
  const axes = (Array.isArray(rawAxes) ? rawAxes : [rawAxes]).map((a) => batchAxis(layer, a, input));
  if (new Set(axes).size !== axes.length) fail(layer, `axis ${JSON.stringify(rawAxes)} repeats an axis.`);
  const center = bool(layer, 'center', true);
  const scale = bool(layer, 'scale', true);
  const paramShape = axes.map((a) => input[a - 1]);
  return {
    op: { kind: 'layer_norm', axes, epsilon: num(layer, 'epsilon', 1e-3), center, scale },
    outputShape: input,
    weights: scaleAndShift(scale, center, paramShape, trainable),
  };
};

const embedding: Builder = (layer, inputs, trainable) => {
  const input = one(layer, inputs);
  const inputDim = num(layer, 'input_dim');
  const outputDim = num(layer, 'output_dim');
  return {
    op: { kind: 'embedding', inputDim, outputDim },
    outputShape: [...input, outputDim],
    weights: [{ name: 'embeddings', shape: [inputDim, outputDim], trainable }],
  };
};

const activation: Builder = (layer, inputs) => ({
  op: {
    kind: 'activation',
    activation: normalizeActivation(layer.config.activation, layer.name, layer.className),
  },
  outputShape: one(layer, inputs),
  weights: [],
});

/** A config number that may be absent or null (then `fallback`). */
function optionalNum(layer: RawLayer, key: string, fallback: number | null): number | null {
  const v = layer.config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(layer, `config "${key}" must be a number.`);
  return v;
}

const relu: Builder = (layer, inputs) => {
  const maxValue = optionalNum(layer, 'max_value', null);
  if (maxValue !== null && maxValue < 0) fail(layer, `max_value ${maxValue} must be ≥ 0.`);
  return {
    op: {
      kind: 'relu',
      negativeSlope: optionalNum(layer, 'negative_slope', 0)!,
      maxValue,
      threshold: optionalNum(layer, 'threshold', 0)!,
    },
    outputShape: one(layer, inputs),
    weights: [],
  };
};

/** LeakyReLU: `alpha` (Keras 2, TF.js) or `negative_slope` (Keras 3), default 0.3. */
const leakyRelu: Builder = (layer, inputs) => ({
  op: {
    kind: 'relu',
    negativeSlope: optionalNum(layer, 'negative_slope', null) ?? optionalNum(layer, 'alpha', 0.3)!,
    maxValue: null,
    threshold: 0,
  },
  outputShape: one(layer, inputs),
  weights: [],
});

const eluLayer: Builder = (layer, inputs) => ({
  op: { kind: 'elu', alpha: optionalNum(layer, 'alpha', 1)! },
  outputShape: one(layer, inputs),
  weights: [],
});

const softmaxLayer: Builder = (layer, inputs) => {
  const input = one(layer, inputs);
  const axis = batchAxis(layer, layer.config.axis ?? -1, input);
  if (axis !== input.length) {
    fail(layer, `softmax over axis ${axis} is not supported; only the last axis.`, 'unsupported_layer');
  }
  return { op: { kind: 'activation', activation: 'softmax' }, outputShape: input, weights: [] };
};

const prelu: Builder = (layer, inputs, trainable) => {
  const input = one(layer, inputs);
  const raw = layer.config.shared_axes ?? [];
  const list = Array.isArray(raw) ? raw : [raw];
  const sharedAxes = list.map((a) => batchAxis(layer, a, input));
  const shape = input.map((d, i) => (sharedAxes.includes(i + 1) ? 1 : d));
  return {
    op: { kind: 'prelu', sharedAxes },
    outputShape: input,
    weights: [{ name: 'alpha', shape, trainable }],
  };
};

const rescaling: Builder = (layer, inputs) => ({
  op: { kind: 'rescaling', scale: num(layer, 'scale'), offset: optionalNum(layer, 'offset', 0)! },
  outputShape: one(layer, inputs),
  weights: [],
});

const add: Builder = (layer, inputs) => {
  if (inputs.length < 2) fail(layer, `expects at least two inputs, got ${inputs.length}.`);
  const shape = inputs[0];
  for (const s of inputs) {
    if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
      fail(layer, `input shapes differ: ${inputs.map((x) => `[${x.join(', ')}]`).join(' vs ')}.`);
    }
  }
  return { op: { kind: 'add' }, outputShape: shape, weights: [] };
};

const merge =
  (mode: 'multiply' | 'subtract' | 'average' | 'maximum' | 'minimum'): Builder =>
  (layer, inputs) => {
    const shape = add(layer, inputs, false).outputShape;
    if (mode === 'subtract' && inputs.length !== 2)
      fail(layer, `expects exactly two inputs, got ${inputs.length}.`);
    return { op: { kind: 'merge', mode }, outputShape: shape, weights: [] };
  };

/** Input `which` (0 or 1) of a Dot: its axis counting the batch (≥ 1), from Keras's int or pair `axes`. */
function dotAxis(layer: RawLayer, input: Shape, which: 0 | 1): number {
  const raw = layer.config.axes;
  const pairOf = typeof raw === 'number' ? [raw, raw] : raw;
  if (!Array.isArray(pairOf) || pairOf.length !== 2 || !pairOf.every((a) => Number.isInteger(a))) {
    fail(layer, `axes ${JSON.stringify(raw)} must be an integer or a pair of integers.`);
  }
  const axis = pairOf[which] as number;
  const rank = input.length + 1;
  const resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 1 || resolved >= rank) {
    fail(
      layer,
      `axis ${axis} of input ${which + 1} [null, ${input.join(', ')}] is out of range (the batch axis cannot be summed over).`,
    );
  }
  return resolved;
}

/** Dot: Keras's output shape, input 1's axes but the dot axis, then input 2's ([1] when both are vectors). */
const dot: Builder = (layer, inputs) => {
  if (inputs.length !== 2) fail(layer, `expects exactly two inputs, got ${inputs.length}.`);
  const [x, y] = inputs;
  const axes: [number, number] = [dotAxis(layer, x, 0), dotAxis(layer, y, 1)];
  if (x[axes[0] - 1] !== y[axes[1] - 1]) {
    fail(
      layer,
      `cannot take the dot product of [null, ${x.join(', ')}] along axis ${axes[0]} (size ${x[axes[0] - 1]}) ` +
        `and [null, ${y.join(', ')}] along axis ${axes[1]} (size ${y[axes[1] - 1]}): the sizes differ.`,
    );
  }
  const out = [...x.filter((_, i) => i !== axes[0] - 1), ...y.filter((_, i) => i !== axes[1] - 1)];
  return {
    op: { kind: 'dot', axes, normalize: bool(layer, 'normalize', false) },
    outputShape: out.length === 0 ? [1] : out,
    weights: [],
  };
};

/** A config statistic (a number or nested lists) broadcast, numpy-style from the right, to `shape`; row-major. */
function statistic(layer: RawLayer, key: string, shape: number[]): number[] {
  const value = layer.config[key];
  const dims: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) dims.push(v.length);
  const flat = (Array.isArray(value) ? value.flat(dims.length) : [value]) as unknown[];
  const offset = shape.length - dims.length;
  if (
    flat.length !== dims.reduce((a, b) => a * b, 1) ||
    flat.some((v) => typeof v !== 'number' || !Number.isFinite(v)) ||
    offset < 0 ||
    dims.some((d, i) => d !== 1 && d !== shape[offset + i])
  ) {
    fail(
      layer,
      `config "${key}" ${JSON.stringify(value)} does not broadcast to the kept axes [${shape.join(', ')}].`,
    );
  }
  const out = new Array<number>(sizeOf(shape));
  const index = new Array<number>(shape.length).fill(0);
  for (let j = 0; j < out.length; j++) {
    let from = 0;
    dims.forEach((d, i) => (from = from * d + (d === 1 ? 0 : index[offset + i])));
    out[j] = flat[from] as number;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

/**
 * Normalization (Keras 2 and 3): `axis` an int, a list or null (one scalar mean), counting the batch axis; the
 * statistics are non-trainable weights `mean` and `variance` shaped as the kept axes (and an unread `count`), or
 * the config's `mean`/`variance` (Keras 3 writes them there when given to the constructor, then with no weights).
 */
const normalization: Builder = (layer, inputs) => {
  const input = one(layer, inputs);
  const raw = layer.config.axis === undefined ? -1 : layer.config.axis;
  const list = raw === null ? [] : Array.isArray(raw) ? raw : [raw];
  const rank = input.length + 1;
  const axes = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      fail(layer, `axis ${JSON.stringify(raw)} is invalid for input rank ${rank}.`);
    }
    if (a === 0 || a === -rank) {
      fail(layer, 'a mean and variance per batch position (axis 0) is not supported.', 'unsupported_layer');
    }
    return (a as number) < 0 ? (a as number) + rank : (a as number);
  });
  axes.sort((a, b) => a - b);
  if (new Set(axes).size !== axes.length) fail(layer, `axis ${JSON.stringify(raw)} repeats an axis.`);
  const kept = axes.map((a) => input[a - 1]);
  const invert = bool(layer, 'invert', false);
  const given = [layer.config.mean, layer.config.variance].map((v) => v !== undefined && v !== null);
  if (given[0] !== given[1]) fail(layer, 'config "mean" and "variance" must be given together.');
  const stats = given[0]
    ? { mean: statistic(layer, 'mean', kept), variance: statistic(layer, 'variance', kept) }
    : null;
  const weights: WeightDecl[] = stats
    ? []
    : [
        { name: 'mean', shape: kept, trainable: false },
        { name: 'variance', shape: kept, trainable: false },
        { name: 'count', shape: [], trainable: false, unread: true },
      ];
  return { op: { kind: 'normalization', axes, invert, stats }, outputShape: input, weights };
};

/**
 * A padding or cropping amount as [[top, bottom], [left, right]] (top/bottom 0 in 1-D), from Keras's forms: an
 * int, a symmetric pair per axis, or a pair of pairs (1-D: an int or [left, right]).
 */
function amounts(
  layer: RawLayer,
  key: string,
  rank: 1 | 2,
  fallback: number,
): [[number, number], [number, number]] {
  const v = layer.config[key] ?? fallback;
  const ok = (e: unknown): e is number => Number.isInteger(e) && (e as number) >= 0;
  const pairOf = (e: unknown): [number, number] | undefined => {
    if (ok(e)) return [e, e];
    if (Array.isArray(e) && e.length === 2 && e.every(ok)) return [e[0], e[1]];
    return undefined;
  };
  if (rank === 1) {
    const p = pairOf(v);
    if (p) return [[0, 0], p];
  } else {
    if (ok(v))
      return [
        [v, v],
        [v, v],
      ];
    if (Array.isArray(v) && v.length === 2) {
      const [h, w] = [pairOf(v[0]), pairOf(v[1])];
      if (h && w) return [h, w];
    }
  }
  return fail(layer, `config "${key}" ${JSON.stringify(v)} is invalid.`);
}

const zeroPadding =
  (rank: 1 | 2): Builder =>
  (layer, inputs) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D padding`);
    channelsLast(layer);
    const padding = amounts(layer, 'padding', rank, 1);
    const out = [...input];
    if (rank === 2) out[0] += padding[0][0] + padding[0][1];
    out[rank - 1] += padding[1][0] + padding[1][1];
    return { op: { kind: 'zero_padding', rank, padding }, outputShape: out, weights: [] };
  };

const cropping =
  (rank: 1 | 2): Builder =>
  (layer, inputs) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D cropping`);
    channelsLast(layer);
    const crop = amounts(layer, 'cropping', rank, rank === 1 ? 1 : 0);
    const out = [...input];
    if (rank === 2) out[0] -= crop[0][0] + crop[0][1];
    out[rank - 1] -= crop[1][0] + crop[1][1];
    if (out.some((d) => d < 1)) fail(layer, `cropping leaves nothing of the input [${input.join(', ')}].`);
    return { op: { kind: 'cropping', rank, cropping: crop }, outputShape: out, weights: [] };
  };

const upSampling =
  (rank: 1 | 2): Builder =>
  (layer, inputs) => {
    const input = one(layer, inputs);
    rankOf(layer, input, rank + 1, `a ${rank}-D upsampling`);
    channelsLast(layer);
    const interpolation = layer.config.interpolation ?? 'nearest';
    if (interpolation !== 'nearest') {
      fail(
        layer,
        `interpolation "${String(interpolation)}" is not supported; only nearest.`,
        'unsupported_layer',
      );
    }
    const size = rank === 1 ? pair(layer, 'size', 1, 2) : pair(layer, 'size', 2, 2);
    const out =
      rank === 1 ? [input[0] * size[1], input[1]] : [input[0] * size[0], input[1] * size[1], input[2]];
    return { op: { kind: 'upsampling', rank, size }, outputShape: out, weights: [] };
  };

const permute: Builder = (layer, inputs) => {
  const input = one(layer, inputs);
  const dims = layer.config.dims;
  const sorted = Array.isArray(dims) ? [...dims].sort((a, b) => a - b) : [];
  if (!Array.isArray(dims) || dims.length !== input.length || sorted.some((d, i) => d !== i + 1)) {
    fail(layer, `dims ${JSON.stringify(dims)} is not a permutation of 1..${input.length}.`);
  }
  return {
    op: { kind: 'permute', dims: dims as number[] },
    outputShape: (dims as number[]).map((d) => input[d - 1]),
    weights: [],
  };
};

const repeatVector: Builder = (layer, inputs) => {
  const input = one(layer, inputs);
  rankOf(layer, input, 1, 'a 1-D (features)');
  const n = num(layer, 'n');
  if (!Number.isInteger(n) || n < 1) fail(layer, `n ${n} must be a positive integer.`);
  return { op: { kind: 'repeat_vector', n }, outputShape: [n, input[0]], weights: [] };
};

const concatenate: Builder = (layer, inputs) => {
  if (inputs.length < 2) fail(layer, `expects at least two inputs, got ${inputs.length}.`);
  const axis = batchAxis(layer, layer.config.axis ?? -1, inputs[0]);
  const out = [...inputs[0]];
  for (const s of inputs.slice(1)) {
    if (s.length !== out.length || s.some((d, i) => i !== axis - 1 && d !== out[i])) {
      fail(
        layer,
        `inputs ${inputs.map((x) => `[${x.join(', ')}]`).join(', ')} cannot be joined on axis ${axis}.`,
      );
    }
    out[axis - 1] += s[axis - 1];
  }
  return { op: { kind: 'concatenate', axis }, outputShape: out, weights: [] };
};

const BUILDERS: Record<string, Builder> = {
  Dense: dense,
  Conv1D: conv(1),
  Conv2D: conv(2),
  DepthwiseConv2D: depthwiseConv(false),
  SeparableConv2D: depthwiseConv(true),
  SeparableConvolution2D: depthwiseConv(true),
  SeparableConv1D: depthwiseConv(true, 1),
  SeparableConvolution1D: depthwiseConv(true, 1),
  Conv2DTranspose: convTranspose,
  Convolution2DTranspose: convTranspose,
  MaxPooling1D: pool('max', 1),
  MaxPool1D: pool('max', 1),
  MaxPooling2D: pool('max', 2),
  MaxPool2D: pool('max', 2),
  AveragePooling1D: pool('avg', 1),
  AvgPool1D: pool('avg', 1),
  AveragePooling2D: pool('avg', 2),
  AvgPool2D: pool('avg', 2),
  GlobalAveragePooling1D: globalAveragePool(1),
  GlobalAvgPool1D: globalAveragePool(1),
  GlobalAveragePooling2D: globalAveragePool(2),
  GlobalAvgPool2D: globalAveragePool(2),
  GlobalMaxPooling1D: globalMaxPool(1),
  GlobalMaxPool1D: globalMaxPool(1),
  GlobalMaxPooling2D: globalMaxPool(2),
  GlobalMaxPool2D: globalMaxPool(2),
  Flatten: flatten,
  Reshape: reshape,
  ...Object.fromEntries(INFERENCE_NO_OPS.map((name) => [name, identity])),
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Embedding: embedding,
  Activation: activation,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  ELU: eluLayer,
  Softmax: softmaxLayer,
  PReLU: prelu,
  Rescaling: rescaling,
  Add: add,
  Multiply: merge('multiply'),
  Subtract: merge('subtract'),
  Average: merge('average'),
  Maximum: merge('maximum'),
  Minimum: merge('minimum'),
  Dot: dot,
  Normalization: normalization,
  ZeroPadding1D: zeroPadding(1),
  ZeroPadding2D: zeroPadding(2),
  Cropping1D: cropping(1),
  Cropping2D: cropping(2),
  UpSampling1D: upSampling(1),
  UpSampling2D: upSampling(2),
  Permute: permute,
  RepeatVector: repeatVector,
  Concatenate: concatenate,
  ...RECURRENT_BUILDERS,
  TimeDistributed: (layer, inputs, trainable) => timeDistributed(layer, inputs, trainable, buildLayer),
};

/** Every layer class the engine accepts (InputLayer included). */
export const SUPPORTED_LAYER_CLASSES: readonly string[] = ['InputLayer', ...Object.keys(BUILDERS)];

/**
 * Builds the normalized op, output shape and weight declarations of one non-input layer.
 * @throws EngineError('unsupported_layer') for an unknown class or option, EngineError('invalid_model') for a
 *   config or shape that does not fit
 */
export function buildLayer(layer: RawLayer, inputs: Shape[]): BuiltLayer {
  // Own properties only: a class name such as "__proto__" or "constructor" must not find Object.prototype's.
  const builder = Object.hasOwn(BUILDERS, layer.className) ? BUILDERS[layer.className] : undefined;
  if (!builder) {
    throw new EngineError(
      'unsupported_layer',
      `Layer "${layer.name}" has class ${layer.className}, which is not supported. Supported layers: ${SUPPORTED_LAYER_CLASSES.join(', ')}.`,
      { layer: layer.name, className: layer.className, supported: SUPPORTED_LAYER_CLASSES },
    );
  }
  return builder(layer, inputs, layer.config.trainable !== false);
}
