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
  | { kind: 'add' }
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
