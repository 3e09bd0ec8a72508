/**
 * What the `kfac` method covers, decided before computing (tf-free, so the API refuses an uncovered model when the job
 * is submitted): the models and losses of the backpropagated-factor route (`engine/curvature/factor-backprop.ts`) —
 * single-input, single-output chains of Dense layers, elementwise activations (a Dense's own or Activation layers)
 * and inference no-ops (Dropout, ...), on rank-2 inputs and outputs, with softmax cross-entropy (fused with a final
 * softmax, or fromLogits), sigmoid binary cross-entropy (fused or fromLogits) or mean squared error — and parameter
 * selections of Dense kernels and biases only. Each covered Dense layer with a selected weight gets one Kronecker
 * factor pair; its artifacts live under a directory named by {@link artifactSegment}, never by the raw layer name.
 */
import { artifactSegment } from './artifact-names.js';
import { EngineError } from './errors.js';
import { formatBytes } from './guards.js';
import type { ActivationName } from './model/activation-names.js';
import type { LayerSpec, ParsedModel } from './model/parsed-model.js';
import { outputLosses } from './request.js';
import type { LossSpec } from './request-schema.js';
import type { ParamLayout } from './types.js';

/** The loss-Hessian factor at the split point: softmax CE, sigmoid BCE, or MSE's multiple of the identity. */
export type KfacFactorKind = 'softmax' | 'sigmoid' | 'identity';

/** One step of the chain: a layer and the elementwise activation it applies after it (null when split off). */
export interface KfacStep {
  layer: LayerSpec;
  activation: ActivationName | null;
}

/** A covered Dense layer with at least one selected weight. */
export interface KfacLayer {
  /** Position among the covered layers (model order), from 0. */
  index: number;
  /** The layer's name as the model gives it (only ever shown, never a path). */
  name: string;
  /** Index of the layer in `KfacPlan.steps`. */
  step: number;
  kernel: ParamLayout | null;
  bias: ParamLayout | null;
  /** Input features of the Dense layer. */
  inputs: number;
  units: number;
  /** Rows of A: the kernel's input rows (when selected), then the bias row (when selected). */
  inSize: number;
  /** Rows of B: the layer's units. */
  outSize: number;
  /** `kfac/<index>-<sanitized name>`, under which A.npy and B.npy are written. */
  directory: string;
}

export interface KfacPlan {
  kind: KfacFactorKind;
  /** The activation fused into the loss ('linear' when none), as the objective splits it. */
  split: 'softmax' | 'sigmoid' | 'linear';
  /** The loss of the model's single output. */
  loss: LossSpec;
  steps: KfacStep[];
  layers: KfacLayer[];
  /** Values per example at the split point (C). */
  outputs: number;
}

/** Factors larger than this would make the O(n³) eigendecompositions of inverse products take hours. */
export const MAX_KFAC_FACTOR = 4096;

const COVERED =
  'kfac covers single-input, single-output chains of Dense layers with elementwise activations (as a Dense ' +
  "layer's own activation or Activation layers) and inference no-ops such as Dropout, on inputs and outputs of " +
  'one axis per example, with softmax cross-entropy (fused with a final softmax, or fromLogits), sigmoid binary ' +
  'cross-entropy (fused with a final sigmoid, or fromLogits) or mean squared error';
const INSTEAD = 'Use method "ggn", "ggnvp" or "diagonal" with curvature "ggn" for this model.';

const refuse = (problem: string, details?: Record<string, unknown>): never => {
  throw new EngineError('invalid_method', `${COVERED}; ${problem}. ${INSTEAD}`, details);
};

const quote = (name: string) => JSON.stringify(name);
const describeLayer = (layer: LayerSpec) => `layer ${quote(layer.name)} (${layer.className})`;

/**
 * The kfac plan for a model, loss and parameter selection.
 * @throws EngineError('invalid_method') naming the first layer, loss or weight kfac does not cover, and what it
 * covers; EngineError('too_large') for a factor above MAX_KFAC_FACTOR rows or factors above `maxBytes`
 */
export function planKfac(
  model: ParsedModel,
  loss: LossSpec,
  layout: ParamLayout[],
  maxBytes = Infinity,
): KfacPlan {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    refuse(`this model has ${model.inputs.length} inputs and ${model.outputs.length} outputs`);
  }
  const [spec] = outputLosses(model, loss).map((o) => o.spec);
  const output = model.outputs[0];
  const finalActivation = output.finalActivation.activation;
  const crossEntropy =
    spec.name === 'categorical_crossentropy' || spec.name === 'sparse_categorical_crossentropy';
  // As the objective splits: a final softmax (sigmoid) is fused into a matching cross-entropy on probabilities.
  const split: KfacPlan['split'] =
    !spec.fromLogits && finalActivation === 'softmax' && crossEntropy
      ? 'softmax'
      : !spec.fromLogits && finalActivation === 'sigmoid' && spec.name === 'binary_crossentropy'
        ? 'sigmoid'
        : 'linear';
  let kind: KfacFactorKind | null = null;
  if (crossEntropy && (split === 'softmax' || spec.fromLogits)) kind = 'softmax';
  else if (spec.name === 'binary_crossentropy' && (split === 'sigmoid' || spec.fromLogits)) kind = 'sigmoid';
  else if (spec.name === 'mean_squared_error') kind = 'identity';
  if (!kind) {
    const why =
      spec.name === 'huber'
        ? 'the loss is huber'
        : `the loss is ${spec.name} on the model's ${finalActivation} output (not fused, not fromLogits)`;
    refuse(why);
  }

  const splitLayer = split === 'linear' ? null : output.finalActivation.layer;
  const steps: KfacStep[] = [];
  let previous = model.inputs[0].name;
  for (const layer of model.layers) {
    if (layer.kind === 'input') continue;
    if (layer.inbound.length !== 1 || layer.inbound[0] !== previous) {
      refuse(`${describeLayer(layer)} does not read only the previous layer's output`, { layer: layer.name });
    }
    previous = layer.name;
    if (layer.kind === 'identity') continue;
    if (layer.kind !== 'dense' && layer.kind !== 'activation') {
      return refuse(`${describeLayer(layer)} is not one of them`, { layer: layer.name });
    }
    const activation = layer.name === splitLayer ? null : layer.activation;
    if (activation === 'softmax') {
      refuse(`${describeLayer(layer)} applies softmax, which is not elementwise`, { layer: layer.name });
    }
    if (layer.kind === 'dense' && layer.inputShapes[0].length !== 1) {
      refuse(`${describeLayer(layer)} reads an input of shape [${layer.inputShapes[0].join(', ')}]`, {
        layer: layer.name,
      });
    }
    steps.push({ layer, activation });
  }
  const outShape = model.layers[model.layers.length - 1].outputShape;
  if (previous !== output.name || outShape.length !== 1) {
    refuse(`the output has shape [${outShape.join(', ')}] per example`);
  }

  const byName = new Map(layout.map((p) => [p.name, p]));
  const claimed = new Set<string>();
  const layers: KfacLayer[] = [];
  steps.forEach(({ layer }, step) => {
    if (layer.kind !== 'dense') return;
    const kernel = byName.get(`${layer.name}/kernel`) ?? null;
    const bias = byName.get(`${layer.name}/bias`) ?? null;
    if (!kernel && !bias) return;
    for (const p of [kernel, bias]) if (p) claimed.add(p.name);
    const inputs = layer.inputShapes[0][0];
    const index = layers.length;
    layers.push({
      index,
      name: layer.name,
      step,
      kernel,
      bias,
      inputs,
      units: layer.units,
      inSize: (kernel ? inputs : 0) + (bias ? 1 : 0),
      outSize: layer.units,
      directory: `kfac/${artifactSegment(index, layer.name)}`,
    });
  });
  const stray = layout.find((p) => !claimed.has(p.name));
  if (stray) {
    refuse(`the selected weight ${quote(stray.name)} is not a Dense kernel or bias`, { weight: stray.name });
  }

  const biggest = layers.reduce((m, l) => Math.max(m, l.inSize, l.outSize), 0);
  const bytes = layers.reduce((s, l) => s + 8 * (l.inSize ** 2 + l.outSize ** 2), 0);
  if (biggest > MAX_KFAC_FACTOR || bytes > maxBytes) {
    throw new EngineError(
      'too_large',
      `kfac: the Kronecker factors need ${biggest} rows at most and ${formatBytes(bytes)} in all, above the limits ` +
        `of ${MAX_KFAC_FACTOR} rows and ${formatBytes(maxBytes)}. Select fewer layers (parameters.include).`,
      { rows: biggest, bytes, maxRows: MAX_KFAC_FACTOR, limit: maxBytes },
    );
  }
  return { kind: kind!, split, loss: spec, steps, layers, outputs: outShape[0] };
}
