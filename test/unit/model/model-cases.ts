import * as tf from '@tensorflow/tfjs';
import type { ModelArtifacts } from '../../../src/contract/types.js';
import { randomizeWeights, toArtifacts } from './helpers.js';

/** Small TF.js models covering every supported layer, option and activation, each with its per-example input. */
export interface ModelCase {
  name: string;
  build: () => tf.LayersModel;
  inputShape: number[];
  /** Embedding models take integer ids below this bound. */
  vocabulary?: number;
  /**
   * Not twice continuously differentiable (relu-like kinks, max pooling, elu/selu's jump in f''): finite
   * differences need a step small enough not to straddle a kink.
   */
  kinked?: boolean;
}

export const TFJS_ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'sigmoid',
  'hardSigmoid',
  'tanh',
  'softplus',
  'softsign',
  'swish',
  'gelu',
  'softmax',
] as const;

const L = tf.layers;

function sequential(layers: tf.layers.Layer[]): tf.LayersModel {
  const model = tf.sequential();
  for (const layer of layers) model.add(layer);
  return model;
}

const mlp = (activation: (typeof TFJS_ACTIVATIONS)[number]): ModelCase => ({
  name: `mlp_${activation}`,
  inputShape: [4],
  kinked: ['relu', 'relu6', 'hardSigmoid', 'elu', 'selu'].includes(activation),
  build: () =>
    sequential([L.dense({ inputShape: [4], units: 5, activation }), L.dense({ units: 3, activation })]),
});

export const MODEL_CASES: ModelCase[] = [
  ...TFJS_ACTIVATIONS.map(mlp),
  {
    name: 'conv2d_same_stride2_maxpool_same',
    kinked: true,
    inputShape: [7, 7, 2],
    build: () =>
      sequential([
        L.conv2d({
          inputShape: [7, 7, 2],
          filters: 3,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          activation: 'relu',
        }),
        L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
  },
  {
    name: 'conv2d_dilated_nobias_avgpool_same_stride1_gap',
    kinked: true,
    inputShape: [6, 5, 2],
    build: () =>
      sequential([
        L.conv2d({
          inputShape: [6, 5, 2],
          filters: 4,
          kernelSize: [3, 2],
          dilationRate: 2,
          useBias: false,
          activation: 'elu',
        }),
        L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
        L.globalAveragePooling2d({}),
        L.dense({ units: 2, activation: 'sigmoid' }),
      ]),
  },
  {
    name: 'conv2d_same_odd_avgpool_same_maxpool_valid_batchnorm',
    kinked: true,
    inputShape: [5, 5, 1],
    build: () =>
      sequential([
        L.conv2d({ inputShape: [5, 5, 1], filters: 2, kernelSize: 2, padding: 'same', activation: 'tanh' }),
        L.averagePooling2d({ poolSize: 2, padding: 'same' }),
        L.maxPooling2d({ poolSize: 2, strides: 1 }),
        L.batchNormalization({}),
        L.flatten(),
        L.dense({ units: 2, activation: 'softmax' }),
      ]),
  },
  {
    name: 'conv1d_dilated_same_pool1d_strided_gap1d',
    kinked: true,
    inputShape: [9, 3],
    build: () =>
      sequential([
        L.conv1d({
          inputShape: [9, 3],
          filters: 4,
          kernelSize: 3,
          dilationRate: 2,
          padding: 'same',
          activation: 'swish',
        }),
        L.maxPooling1d({ poolSize: 2, padding: 'same' }),
        L.spatialDropout1d({ rate: 0.3 }),
        L.conv1d({ filters: 3, kernelSize: 2, strides: 2, activation: 'softplus' }),
        L.averagePooling1d({ poolSize: 2, strides: 1, padding: 'same' }),
        L.globalAveragePooling1d({}),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'batchnorm_center_scale_flags',
    inputShape: [3, 4],
    build: () =>
      sequential([
        L.batchNormalization({ inputShape: [3, 4] }),
        L.dense({ units: 5, activation: 'tanh' }),
        L.batchNormalization({ center: false }),
        L.flatten(),
        L.batchNormalization({ scale: false }),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'layernorm_last_axis_and_axis_list_no_center',
    inputShape: [6],
    build: () =>
      sequential([
        L.dense({ inputShape: [6], units: 6, activation: 'gelu' }),
        L.layerNormalization({ epsilon: 1e-2 }),
        L.reshape({ targetShape: [2, 3] }),
        L.layerNormalization({ axis: [1, 2], center: false }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'inference_noops_reshape_dense_on_rank3',
    inputShape: [6],
    build: () =>
      sequential([
        L.dropout({ inputShape: [6], rate: 0.5 }),
        L.gaussianNoise({ stddev: 1 }),
        L.reshape({ targetShape: [2, 3] }),
        L.dense({ units: 4, activation: 'tanh' }),
        L.gaussianDropout({ rate: 0.3 }),
        L.alphaDropout({ rate: 0.3 }),
        L.flatten(),
        L.dense({ units: 2 }),
        L.activation({ activation: 'sigmoid' }),
      ]),
  },
  {
    name: 'embedding_flatten',
    inputShape: [5],
    vocabulary: 10,
    build: () =>
      sequential([
        L.embedding({ inputDim: 10, outputDim: 3, inputLength: 5 }),
        L.flatten(),
        L.dense({ units: 2, activation: 'softmax' }),
      ]),
  },
  {
    name: 'embedding_gap1d',
    kinked: true,
    inputShape: [4],
    vocabulary: 7,
    build: () =>
      sequential([
        L.embedding({ inputDim: 7, outputDim: 4, inputLength: 4 }),
        L.globalAveragePooling1d({}),
        L.dense({ units: 3, activation: 'relu' }),
      ]),
  },
  {
    name: 'functional_add_concatenate_activation_softmax',
    kinked: true,
    inputShape: [4],
    build: () => {
      const input = tf.input({ shape: [4] });
      const a = L.dense({ units: 5, activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
      const b = L.dense({ units: 5, activation: 'selu' }).apply(input) as tf.SymbolicTensor;
      const sum = L.add().apply([a, b]) as tf.SymbolicTensor;
      const c = L.dense({ units: 2, activation: 'softsign' }).apply(input) as tf.SymbolicTensor;
      const joined = L.concatenate().apply([sum, c]) as tf.SymbolicTensor;
      const logits = L.dense({ units: 3 }).apply(joined) as tf.SymbolicTensor;
      const output = L.activation({ activation: 'softmax' }).apply(logits) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: output });
    },
  },
  {
    name: 'functional_concatenate_middle_axis',
    kinked: true,
    inputShape: [2, 3],
    build: () => {
      const input = tf.input({ shape: [2, 3] });
      const a = L.dense({ units: 3, activation: 'hardSigmoid' }).apply(input) as tf.SymbolicTensor;
      const joined = L.concatenate({ axis: 1 }).apply([input, a]) as tf.SymbolicTensor;
      const flat = L.flatten().apply(joined) as tf.SymbolicTensor;
      const output = L.dense({ units: 2, activation: 'relu6' }).apply(flat) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: output });
    },
  },
];

/** Every case built, given distinct random weights (seeds from `seedBase`) and saved as artifacts, by name. */
export async function buildCaseArtifacts(seedBase: number): Promise<Map<string, ModelArtifacts>> {
  const artifacts = new Map<string, ModelArtifacts>();
  for (const [i, c] of MODEL_CASES.entries()) {
    const model = c.build();
    randomizeWeights(model, seedBase + i);
    artifacts.set(c.name, await toArtifacts(model));
    model.dispose();
  }
  return artifacts;
}
