/**
 * The normalized model the engine computes with (tf-free): layers in topological order with resolved shapes,
 * every weight by name, and the trainable parameter layout.
 */
import type { ParamLayout } from '../types.js';
import type { ActivationName } from './activation-names.js';
import type { OnnxNodeOp } from '../onnx/node-op.js';

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
   * Dot of two inputs: per example, the sum over input 1's axis `axes[0]` times input 2's axis `axes[1]` (each
   * counting the batch axis, ≥ 1); the output holds input 1's other axes then input 2's ([1] when none are left).
   * With `normalize`, each input is first divided by its l2 norm along its dot axis (at least 1e-7, as Keras 3).
   */
  | { kind: 'dot'; axes: [number, number]; normalize: boolean }
  /**
   * Normalization (Keras preprocessing): (x − mean) / max(√variance, 1e-7), or mean + x · max(√variance, 1e-7) when
   * `invert`. `axes` (counting the batch axis, ascending; [] for one scalar mean) keep a mean and variance per index;
   * the statistics are the layer's non-trainable `mean`/`variance` weights (shaped as the kept axes), or `stats`
   * when the config holds them (already broadcast to the kept axes, row-major). Never parameters of θ.
   */
  | {
      kind: 'normalization';
      axes: number[];
      invert: boolean;
      stats: { mean: number[]; variance: number[] } | null;
    }
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
  /**
   * Recurrent layers (SimpleRNN, GRU, LSTM; see `RecurrentCell`) on [time, features]; `mask` names the Masking
   * layer (or Embedding with mask_zero) whose step mask reaches this layer, null when none does.
   */
  | { kind: 'rnn'; cell: RecurrentCell; mask: string | null; initialStates: number }
  /** Bidirectional: both directions over the input, the backward one's sequence reversed back, then merged. */
  | {
      kind: 'bidirectional';
      forward: RecurrentCell;
      backward: RecurrentCell;
      mergeMode: 'concat' | 'sum' | 'mul' | 'ave';
      mask: string | null;
      /** Number of initial-state inputs after x: the forward direction's states, then the backward one's (or 0). */
      initialStates: number;
    }
  /** TimeDistributed: `inner` (named as the wrapper, so its weights are `wrapper/weight`) with time folded into the batch. */
  | { kind: 'time_distributed'; inner: LayerSpec }
  /** Masking: x times a constant step mask (0 where every feature equals maskValue); the mask feeds recurrent layers. */
  | { kind: 'masking'; maskValue: number }
  /** `axis` counts the batch axis (≥ 1). */
  | { kind: 'concatenate'; axis: number }
  /** A node of an imported ONNX graph (`src/contract/onnx/`): op type, operands, normalized attributes. */
  | ({ kind: 'onnx' } & OnnxNodeOp);

export type LayerKind = LayerOp['kind'];

export type LayerSpec = LayerOp & {
  name: string;
  /** The Keras/TF.js class name as written in model.json. */
  className: string;
  /** Names of the layers whose outputs feed this one, in argument order. */
  inbound: string[];
  inputShapes: Shape[];
  outputShape: Shape;
  /** Shapes of further outputs (a recurrent layer's final states with return_state), read by others as `name:k`. */
  extraOutputShapes?: Shape[];
  /** Full names (`layer/weight`) of this layer's weights, in Keras order. */
  weightNames: string[];
};

/**
 * One recurrent layer, or one direction of a Bidirectional: Keras's cell and loop options. Gates are in Keras order
 * (GRU z, r, h; LSTM i, f, c, o); weights `kernel` [features, gates·units], `recurrent_kernel` [units, gates·units]
 * and `bias` [gates·units] ([2, 3·units] for a GRU with resetAfter: input then recurrent bias).
 */
export interface RecurrentCell {
  cell: 'simple_rnn' | 'gru' | 'lstm';
  units: number;
  /** The cell's `activation` (named apart from a layer's final activation, which this is not). */
  cellActivation: ActivationName;
  /** The gates' `recurrent_activation` (unused by SimpleRNN). */
  recurrentActivation: ActivationName;
  useBias: boolean;
  /** GRU only: the reset gate multiplies the recurrent term after its matMul (Keras 2+ default) or before. */
  resetAfter: boolean;
  returnSequences: boolean;
  /** The final states (h, and c for LSTM) are further outputs of the layer (Keras return_state). */
  returnState: boolean;
  /** Steps taken last to first; the returned sequence is in that (reversed) order, as in Keras. */
  goBackwards: boolean;
  /** Masked steps output zeros instead of repeating the previous output (Keras forces this in Bidirectional). */
  zeroOutputForMask: boolean;
  /** Where the weights sit inside the layer: '' (`gru/kernel`) or 'forward_lstm/' (`bidirectional/forward_lstm/kernel`). */
  weightScope: string;
}

export interface WeightTensor {
  /** `layer/weight`, e.g. `dense_1/kernel`. */
  name: string;
  layer: string;
  shape: number[];
  trainable: boolean;
  values: Float32Array;
}

/** A model input: its InputLayer's name (the key of its array in a named batch) and declared shape. */
export interface ModelInput {
  name: string;
  /** With a null batch axis; other null axes (variable-length sequences) take the batch's size. */
  shape: (number | null)[];
  dtype: 'float32' | 'int32';
}

/** A model output: the layer producing it (the key of its targets in a named batch). */
export interface ModelOutput {
  name: string;
  /** With a null batch axis, and null where the size follows a variable input axis. */
  shape: (number | null)[];
  /** The activation that produces this output and the layer applying it (identity layers skipped). */
  finalActivation: { activation: ActivationName; layer: string };
}

export interface ParsedModel {
  name: string;
  /** In topological order; shapes are resolved for the batch the model was parsed for (see `parseModel`). */
  layers: LayerSpec[];
  /** Every weight (trainable and not), in model weight order: layer order, Keras order within a layer. */
  weights: WeightTensor[];
  /** The trainable weights laid out in θ. */
  parameters: ParamLayout[];
  /** In the model's input order (one for most models). */
  inputs: ModelInput[];
  /** In the model's output order (one for most models). */
  outputs: ModelOutput[];
}
