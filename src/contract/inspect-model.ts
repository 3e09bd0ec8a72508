/**
 * Checks on what a caller uploads, shared by the CLI and the HTTP service (tf-free, so the API can answer at
 * upload time without loading TensorFlow.js).
 */
import { parseModel } from './model/parse.js';
import type { ModelArtifacts, ParamLayout } from './types.js';

export interface ModelSummary {
  numParams: number;
  /** Trainable weights in θ order. */
  parameters: ParamLayout[];
  /** Of the first input and output, with a null batch axis (and null variable axes). */
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  /** Every input and output by name: the keys of a batch's arrays for models with several. */
  inputs: { name: string; shape: (number | null)[]; dtype: string }[];
  outputs: { name: string; shape: (number | null)[] }[];
  layers: { name: string; className: string }[];
}

/**
 * Parses a TF.js Layers model and summarizes what the engine will differentiate.
 * @throws EngineError('invalid_model' | 'unsupported_layer' | 'missing_weights') as `parseModel`
 */
export function inspectModel(artifacts: ModelArtifacts): ModelSummary {
  const model = parseModel(artifacts);
  return {
    numParams: model.parameters.reduce((total, p) => total + p.size, 0),
    parameters: model.parameters,
    inputShape: model.inputs[0].shape,
    outputShape: model.outputs[0].shape,
    inputs: model.inputs.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
    outputs: model.outputs.map(({ name, shape }) => ({ name, shape })),
    layers: model.layers.map((l) => ({ name: l.name, className: l.className })),
  };
}
