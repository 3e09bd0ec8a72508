/**
 * The normalized model the engine computes with (tf-free): layers in topological order with resolved shapes,
 * every weight by name, and the trainable parameter layout.
 */
import type { ParamLayout } from '../types.js';
import type { ActivationName } from './activation-names.js';

/** Per-example shape (the batch axis excluded). */
export type Shape = number[];

export type Padding = 'valid' | 'same';

/** What a layer computes. Convolutions and pooling are 2-D; their 1-D forms are 2-D with height 1. */
export type LayerOp =
  | { kind: 'input' }
  | { kind: 'dense'; units: number; useBias: boolean; activation: ActivationName }
  | {
      kind: 'conv';
      rank: 1 | 2;
      filters: number;
      kernelSize: [number, number];
      strides: [number, number];
      dilation: [number, number];
      padding: Padding;
      useBias: boolean;
      activation: ActivationName;
    }
  | {
      kind: 'pool';
      mode: 'max' | 'avg';
      rank: 1 | 2;
      poolSize: [number, number];
      strides: [number, number];
      padding: Padding;
    }
  /**
   * DepthwiseConv2D (`pointwiseFilters` null; weights depthwise_kernel [kh, kw, cin, depthMultiplier], bias
   * [cin·depthMultiplier]) and SeparableConv1D/2D (the depthwise step then a 1×1 convolution to `pointwiseFilters`;
   * weights depthwise_kernel, pointwise_kernel [1, 1, cin·depthMultiplier, filters], bias [filters]; 1-D kernels
   * without the height axis).
   */
  | {
      kind: 'depthwise_conv';
      rank: 1 | 2;
      depthMultiplier: number;
      pointwiseFilters: number | null;
      kernelSize: [number, number];
      strides: [number, number];
      dilation: [number, number];
      padding: Padding;
      useBias: boolean;
      activation: ActivationName;
    }
  /** Conv2DTranspose: kernel [kh, kw, filters, cin]; output (in − 1)·stride + k (valid) or in·stride (same). */
  | {
      kind: 'conv_transpose';
      filters: number;
      kernelSize: [number, number];
      strides: [number, number];
      padding: Padding;
      useBias: boolean;
      activation: ActivationName;
    }
  | { kind: 'global_avg_pool'; rank: 1 | 2; keepDims: boolean }
  | { kind: 'flatten' }
  | { kind: 'reshape'; targetShape: Shape }
  /** Dropout and the other layers that do nothing at inference. */
  | { kind: 'identity' }
  /** `axis` counts the batch axis (≥ 1). */
  | { kind: 'batch_norm'; axis: number; epsilon: number; center: boolean; scale: boolean }
  /** `axes` count the batch axis (each ≥ 1). */
  | { kind: 'layer_norm'; axes: number[]; epsilon: number; center: boolean; scale: boolean }
  | { kind: 'embedding'; inputDim: number; outputDim: number }
  | { kind: 'activation'; activation: ActivationName }
  /**
   * Keras `relu` with options (ReLU and LeakyReLU layers): x above `threshold` (else 0), clipped to
   * [0, maxValue] when maxValue is set, minus negativeSlope · relu(threshold − x).
   */
  | { kind: 'relu'; negativeSlope: number; maxValue: number | null; threshold: number }
  /** ELU layer: x for x > 0, alpha · (exp(x) − 1) otherwise. */
  | { kind: 'elu'; alpha: number }
  /** PReLU: relu(x) − alpha · relu(−x), trainable `alpha` of the input shape with `sharedAxes` (batch-counted) of size 1. */
  | { kind: 'prelu'; sharedAxes: number[] }
  /** Rescaling: x · scale + offset. */
  | { kind: 'rescaling'; scale: number; offset: number }
  | { kind: 'add' }
  /** Elementwise merge of inputs of one shape: product, difference (two inputs), mean, maximum or minimum. */
  | { kind: 'merge'; mode: 'multiply' | 'subtract' | 'average' | 'maximum' | 'minimum' }
  /**
   * Index-only layers, per example (channels_last; 1-D layers have height 1 as convolutions do): zero padding and
   * cropping by [[top, bottom], [left, right]], nearest-neighbour upsampling by [height, width].
   */
  | { kind: 'zero_padding'; rank: 1 | 2; padding: [[number, number], [number, number]] }
  | { kind: 'cropping'; rank: 1 | 2; cropping: [[number, number], [number, number]] }
  | { kind: 'upsampling'; rank: 1 | 2; size: [number, number] }
  /** Permute: output axis i (of the example, 0-based) is input axis dims[i] − 1 (Keras's 1-based dims). */
  | { kind: 'permute'; dims: number[] }
  /** RepeatVector: [features] → [n, features]. */
  | { kind: 'repeat_vector'; n: number }
  /** `axis` counts the batch axis (≥ 1). */
  | { kind: 'concatenate'; axis: number };

export type LayerKind = LayerOp['kind'];

export type LayerSpec = LayerOp & {
  name: string;
  /** The Keras/TF.js class name as written in model.json. */
  className: string;
  /** Names of the layers whose outputs feed this one, in argument order. */
  inbound: string[];
  inputShapes: Shape[];
  outputShape: Shape;
  /** Full names (`layer/weight`) of this layer's weights, in Keras order. */
  weightNames: string[];
};

export interface WeightTensor {
  /** `layer/weight`, e.g. `dense_1/kernel`. */
  name: string;
  layer: string;
  shape: number[];
  trainable: boolean;
  values: Float32Array;
}

export interface ParsedModel {
  name: string;
  layers: LayerSpec[];
  /** Every weight (trainable and not), in model weight order: layer order, Keras order within a layer. */
  weights: WeightTensor[];
  /** The trainable weights laid out in θ. */
  parameters: ParamLayout[];
  inputLayer: string;
  outputLayer: string;
  /** With a null batch axis. */
  inputShape: (number | null)[];
  inputDtype: 'float32' | 'int32';
  /** With a null batch axis. */
  outputShape: (number | null)[];
  /** The activation that produces the model's output and the layer applying it (identity layers skipped). */
  finalActivation: { activation: ActivationName; layer: string };
}
