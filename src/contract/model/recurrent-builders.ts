/**
 * Builders for the recurrent layers (SimpleRNN, GRU, LSTM, Bidirectional), TimeDistributed and Masking, and the
 * pass that decides which recurrent layers a step mask reaches, following Keras's mask propagation (tf-free).
 */
import { EngineError } from '../errors.js';
import { normalizeActivation } from './activation-names.js';
import type { BuiltLayer, WeightDecl } from './layer-builders.js';
import type { LayerSpec, RecurrentCell, Shape } from './parsed-model.js';
import { fail } from './layer-errors.js';
import type { RawLayer } from './topology.js';

type Builder = (layer: RawLayer, inputs: Shape[], trainable: boolean) => BuiltLayer;

/** The recurrent layer classes, by Keras class name, and their cell. */
const RNN_CLASSES: Record<string, RecurrentCell['cell']> = {
  SimpleRNN: 'simple_rnn',
  GRU: 'gru',
  LSTM: 'lstm',
};

const GATES: Record<RecurrentCell['cell'], number> = { simple_rnn: 1, gru: 3, lstm: 4 };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function flag(layer: RawLayer, key: string, fallback: boolean): boolean {
  const v = layer.config[key] ?? fallback;
  if (typeof v !== 'boolean') fail(layer, `config "${key}" must be a boolean.`);
  return v;
}

const snakeCase = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

/**
 * A layer serialized inside a wrapper's config (`{class_name, config}`, Keras 3 adding `module` and
 * `registered_name`), as a raw layer fed by what feeds the wrapper.
 */
function wrappedLayer(wrapper: RawLayer, key: string): RawLayer {
  const entry = wrapper.config[key];
  const className = isObject(entry) ? (entry.class_name ?? entry.className) : undefined;
  if (!isObject(entry) || typeof className !== 'string' || !isObject(entry.config)) {
    fail(wrapper, `config "${key}" must be a serialized layer ({class_name, config}).`);
  }
  const config = Object.fromEntries(Object.entries(entry.config).map(([k, v]) => [snakeCase(k), v]));
  const name = typeof config.name === 'string' && config.name !== '' ? config.name : `${wrapper.name}_${key}`;
  return { name, className, config, inbound: wrapper.inbound };
}

function timeSeries(layer: RawLayer, inputs: Shape[]): [number, number] {
  const input = inputs[0];
  if (input.length !== 2) {
    fail(layer, `expects input of shape [batch, time, features], got [null, ${input.join(', ')}].`);
  }
  return [input[0], input[1]];
}

/** States a cell carries: h, and c for LSTM. */
const stateCount = (cell: RecurrentCell) => (cell.cell === 'lstm' ? 2 : 1);

/**
 * Initial states given as further inputs (Keras `initial_state`, serialized as extra inbound tensors): none, or one
 * [units] tensor per state of each cell, in order.
 */
function initialStates(layer: RawLayer, inputs: Shape[], cells: RecurrentCell[]): number {
  const given = inputs.length - 1;
  if (given === 0) return 0;
  const expected = cells.flatMap((cell) => Array.from({ length: stateCount(cell) }, () => cell.units));
  if (given !== expected.length) {
    fail(
      layer,
      `is called on ${given} initial state(s); it takes ${expected.length} (${cells.map((c) => (c.cell === 'lstm' ? 'h and c' : 'h')).join(', then ')}).`,
    );
  }
  inputs.slice(1).forEach((shape, i) => {
    if (shape.length !== 1 || shape[0] !== expected[i]) {
      fail(
        layer,
        `initial state ${i} has shape [null, ${shape.join(', ')}]; expected [null, ${expected[i]}].`,
      );
    }
  });
  return given;
}

/** With return_state, the final states as further outputs: h (and c) of each cell, in order. */
const stateShapes = (cells: RecurrentCell[]): Shape[] | undefined =>
  cells[0].returnState
    ? cells.flatMap((cell) => Array.from({ length: stateCount(cell) }, () => [cell.units]))
    : undefined;

/**
 * Reads a SimpleRNN, GRU or LSTM config. Refused: stateful and time_major (each changes what the layer computes);
 * dropout and recurrent_dropout are the identity at inference, and unroll,
 * implementation, unit_forget_bias and the initializers change nothing here.
 */
function readCell(layer: RawLayer, weightScope: string): RecurrentCell {
  const cell = Object.hasOwn(RNN_CLASSES, layer.className) ? RNN_CLASSES[layer.className] : undefined;
  if (!cell) {
    fail(
      layer,
      `is not a recurrent layer; supported: ${Object.keys(RNN_CLASSES).join(', ')}.`,
      'unsupported_layer',
    );
  }
  for (const [key, why] of [
    ['stateful', 'state carried across batches'],
    ['time_major', 'time-major inputs'],
  ] as const) {
    if (flag(layer, key, false)) {
      fail(layer, `${key}=true (${why}) is not supported.`, 'unsupported_layer');
    }
  }
  const units = layer.config.units;
  if (typeof units !== 'number' || !Number.isInteger(units) || units < 1) {
    fail(layer, `config "units" must be a positive integer, got ${JSON.stringify(units)}.`);
  }
  const activation = (key: string, fallback: 'tanh' | 'sigmoid') =>
    layer.config[key] === undefined
      ? fallback
      : normalizeActivation(layer.config[key], layer.name, layer.className);
  return {
    cell,
    units,
    cellActivation: activation('activation', 'tanh'),
    recurrentActivation: cell === 'simple_rnn' ? 'linear' : activation('recurrent_activation', 'sigmoid'),
    useBias: flag(layer, 'use_bias', true),
    resetAfter: cell === 'gru' && flag(layer, 'reset_after', true),
    returnSequences: flag(layer, 'return_sequences', false),
    returnState: flag(layer, 'return_state', false),
    goBackwards: flag(layer, 'go_backwards', false),
    zeroOutputForMask: flag(layer, 'zero_output_for_mask', false),
    weightScope,
  };
}

function cellWeights(cell: RecurrentCell, features: number, trainable: boolean): WeightDecl[] {
  const width = GATES[cell.cell] * cell.units;
  const scoped = (name: string) => `${cell.weightScope}${name}`;
  const weights: WeightDecl[] = [
    { name: scoped('kernel'), shape: [features, width], trainable },
    { name: scoped('recurrent_kernel'), shape: [cell.units, width], trainable },
  ];
  if (cell.useBias) {
    weights.push({ name: scoped('bias'), shape: cell.resetAfter ? [2, width] : [width], trainable });
  }
  return weights;
}

const recurrent: Builder = (layer, inputs, trainable) => {
  const [time, features] = timeSeries(layer, inputs);
  const cell = readCell(layer, '');
  return {
    op: { kind: 'rnn', cell, mask: null, initialStates: initialStates(layer, inputs, [cell]) },
    outputShape: cell.returnSequences ? [time, cell.units] : [cell.units],
    extraOutputShapes: stateShapes([cell]),
    weights: cellWeights(cell, features, trainable),
  };
};

const MERGE_MODES = ['concat', 'sum', 'mul', 'ave'] as const;

const withoutPrefix = (name: string, prefix: string) =>
  name.startsWith(prefix) ? name.slice(prefix.length) : name;

/**
 * Bidirectional: the wrapped layer forward, and backward either from `backward_layer` (Keras 3 always writes it,
 * Keras 2 when one was given) or as the wrapped layer with go_backwards flipped. Weights are named as Keras and
 * TF.js scope them: `<bidirectional>/forward_<layer>/kernel`, `<bidirectional>/backward_<layer>/kernel` (a
 * `forward_`/`backward_` prefix already in the sub-layer's name, as Keras 3 writes it, is not repeated).
 */
const bidirectional: Builder = (layer, inputs, trainable) => {
  const [time, features] = timeSeries(layer, inputs);
  const mergeMode = layer.config.merge_mode === undefined ? 'concat' : layer.config.merge_mode;
  if (mergeMode === null) {
    fail(
      layer,
      'merge_mode=null returns the two directions as two outputs, which is not supported.',
      'unsupported_layer',
    );
  }
  if (!(MERGE_MODES as readonly unknown[]).includes(mergeMode)) {
    fail(layer, `merge_mode ${JSON.stringify(mergeMode)} is not one of ${MERGE_MODES.join(', ')}.`);
  }
  const inner = wrappedLayer(layer, 'layer');
  const forwardScope = `forward_${withoutPrefix(inner.name, 'forward_')}/`;
  const forward = readCell(inner, forwardScope);
  let backward: RecurrentCell;
  if (isObject(layer.config.backward_layer)) {
    const given = wrappedLayer(layer, 'backward_layer');
    backward = readCell(given, `backward_${withoutPrefix(given.name, 'backward_')}/`);
  } else {
    backward = {
      ...forward,
      goBackwards: !forward.goBackwards,
      weightScope: `backward_${withoutPrefix(inner.name, 'forward_')}/`,
    };
  }
  if (forward.goBackwards === backward.goBackwards) {
    fail(layer, 'the forward and backward layers must have different go_backwards values.');
  }
  if (forward.returnSequences !== backward.returnSequences) {
    fail(layer, 'the forward and backward layers must agree on return_sequences.');
  }
  if (forward.returnState !== backward.returnState) {
    fail(layer, 'the forward and backward layers must agree on return_state.');
  }
  // Keras: "Force the zero_output_for_mask to be True if returning sequences."
  const zeroed = (cell: RecurrentCell): RecurrentCell => ({
    ...cell,
    zeroOutputForMask: cell.returnSequences,
  });
  const merged = mergeMode === 'concat' ? forward.units + backward.units : forward.units;
  if (mergeMode !== 'concat' && forward.units !== backward.units) {
    fail(layer, `merge_mode "${mergeMode}" needs both directions to have the same units.`);
  }
  const layerTrainable = trainable && inner.config.trainable !== false;
  return {
    op: {
      kind: 'bidirectional',
      forward: zeroed(forward),
      backward: zeroed(backward),
      mergeMode: mergeMode as (typeof MERGE_MODES)[number],
      mask: null,
      initialStates: initialStates(layer, inputs, [forward, backward]),
    },
    outputShape: forward.returnSequences ? [time, merged] : [merged],
    // Keras: [output, *forward states, *backward states].
    extraOutputShapes: stateShapes([forward, backward]),
    weights: [
      ...cellWeights(forward, features, layerTrainable),
      ...cellWeights(backward, features, layerTrainable),
    ],
  };
};

/**
 * TimeDistributed: the wrapped layer, built for one time step's shape, applied with time folded into the batch.
 * Any layer the engine supports per example may be wrapped, except Masking (its mask would be per step and
 * position). Its weights are the wrapper's (`time_distributed/kernel`), as Keras 2 and TF.js name them.
 */
export function timeDistributed(
  layer: RawLayer,
  inputs: Shape[],
  trainable: boolean,
  buildLayer: (layer: RawLayer, inputs: Shape[]) => BuiltLayer,
): BuiltLayer {
  if (inputs.length !== 1) fail(layer, `expects one input, got ${inputs.length}.`);
  const input = inputs[0];
  if (input.length < 2) {
    fail(layer, `expects an input of rank ≥ 3 (batch, time, ...), got [null, ${input.join(', ')}].`);
  }
  const inner = wrappedLayer(layer, 'layer');
  if (
    inner.className === 'Masking' ||
    inner.className === 'InputLayer' ||
    (inner.className === 'Embedding' && inner.config.mask_zero === true)
  ) {
    const what = inner.className === 'Embedding' ? 'an Embedding with mask_zero' : `a ${inner.className}`;
    fail(layer, `wrapping ${what} is not supported.`, 'unsupported_layer');
  }
  const step = input.slice(1);
  let built: BuiltLayer;
  try {
    built = buildLayer(
      { ...inner, config: { ...inner.config, trainable: trainable && inner.config.trainable !== false } },
      [step],
    );
  } catch (e) {
    if (e instanceof EngineError) {
      throw new EngineError(e.code, `In TimeDistributed layer "${layer.name}": ${e.message}`, {
        ...e.details,
        wrapper: layer.name,
      });
    }
    throw e;
  }
  const innerSpec: LayerSpec = {
    ...built.op,
    name: layer.name,
    className: inner.className,
    inbound: layer.inbound,
    inputShapes: [step],
    outputShape: built.outputShape,
    weightNames: built.weights.map((w) => `${layer.name}/${w.name}`),
  };
  return {
    op: { kind: 'time_distributed', inner: innerSpec },
    outputShape: [input[0], ...built.outputShape],
    weights: built.weights,
  };
}

const masking: Builder = (layer, inputs) => {
  if (inputs.length !== 1) fail(layer, `expects one input, got ${inputs.length}.`);
  const maskValue = layer.config.mask_value ?? 0;
  if (typeof maskValue !== 'number' || Number.isNaN(maskValue)) {
    fail(layer, `config "mask_value" must be a number, got ${JSON.stringify(maskValue)}.`);
  }
  return { op: { kind: 'masking', maskValue }, outputShape: inputs[0], weights: [] };
};

/** The builders of this file by class name (TimeDistributed, which needs buildLayer, is wired in layer-builders). */
export const RECURRENT_BUILDERS: Record<string, Builder> = {
  SimpleRNN: recurrent,
  GRU: recurrent,
  LSTM: recurrent,
  Bidirectional: bidirectional,
  Masking: masking,
};

/** Layer kinds that pass a step mask on unchanged, as Keras layers with supports_masking do. */
const PASSES_MASK = new Set<string>([
  'identity',
  'dense',
  'activation',
  'relu',
  'elu',
  'prelu',
  'batch_norm',
  'layer_norm',
  'time_distributed',
]);

/** Layer kinds that drop a mask (Keras layers without supports_masking): nothing after them sees it. */
const DROPS_MASK = new Set<string>([
  'conv',
  'depthwise_conv',
  'conv_transpose',
  'pool',
  'flatten',
  'embedding',
]);

/**
 * Follows step masks through the graph as Keras does and records on each recurrent layer the source of the mask
 * reaching it (`mask`): a Masking layer (a step is masked when all its features equal mask_value) or an
 * Embedding with mask_zero (masked where the id is 0). Recurrent layers consume the mask and pass it on only with
 * return_sequences; the layers of PASSES_MASK pass it on; those of DROPS_MASK end it.
 * @throws EngineError('unsupported_layer') where Keras would use a mask in a way the engine does not implement: a
 *   mask reaching a merge, GlobalAveragePooling1D (masked mean) or another layer not listed, or a model output
 *   (Keras would leave masked steps out of the loss)
 */
export function resolveMasks(
  layers: LayerSpec[],
  rawLayers: readonly RawLayer[],
  outputs: readonly string[],
): void {
  const rawOf = new Map(rawLayers.map((l) => [l.name, l]));
  const maskOf = new Map<string, string>();
  const refuse = (layer: LayerSpec, source: string, what: string): never => {
    throw new EngineError(
      'unsupported_layer',
      `Layer "${layer.name}" (${layer.className}) receives the step mask of "${source}", ${what} Masks are ` +
        'supported when they reach SimpleRNN, GRU, LSTM and Bidirectional layers through Dense, Dropout, ' +
        'Activation, normalization and TimeDistributed layers.',
      { layer: layer.name, className: layer.className, maskSource: source },
    );
  };
  for (const layer of layers) {
    if (layer.kind === 'masking') {
      maskOf.set(layer.name, layer.name);
      continue;
    }
    if (layer.kind === 'embedding' && rawOf.get(layer.name)?.config.mask_zero === true) {
      maskOf.set(layer.name, layer.name);
      continue;
    }
    // A recurrent layer's further inputs are initial states, which carry no mask in Keras.
    const recurrentLayer = layer.kind === 'rnn' || layer.kind === 'bidirectional';
    const read = recurrentLayer ? layer.inbound.slice(0, 1) : layer.inbound;
    const incoming = [...new Set(read.map((n) => maskOf.get(n)).filter((m) => m !== undefined))];
    if (incoming.length === 0) continue;
    const source = incoming[0];
    if (incoming.length > 1 || read.length > 1) {
      refuse(layer, source, "which Keras would merge with its other inputs' masks; that is not supported.");
    }
    if (layer.kind === 'rnn' || layer.kind === 'bidirectional') {
      const sourceLayer = layers.find((l) => l.name === source)!;
      const sourceShape = sourceLayer.inputShapes[0];
      const steps = layer.inputShapes[0][0];
      const perStep = sourceLayer.kind === 'masking' ? sourceShape.length === 2 : sourceShape.length === 1;
      if (!perStep || sourceShape[0] !== steps) {
        refuse(
          layer,
          source,
          `whose input [null, ${sourceShape.join(', ')}] does not give one mask value per time step of this layer.`,
        );
      }
      layer.mask = source;
      const returnSequences =
        layer.kind === 'rnn' ? layer.cell.returnSequences : layer.forward.returnSequences;
      if (returnSequences) maskOf.set(layer.name, source);
      continue;
    }
    if (layer.kind === 'time_distributed') {
      const inner = layer.inner.kind;
      if (inner === 'rnn' || inner === 'bidirectional' || inner === 'time_distributed') {
        refuse(layer, source, 'which would mask the wrapped layer per position; that is not supported.');
      }
    }
    if (PASSES_MASK.has(layer.kind)) maskOf.set(layer.name, source);
    else if (!DROPS_MASK.has(layer.kind)) {
      refuse(layer, source, 'which Keras would use or pass on in a way the engine does not implement.');
    }
  }
  for (const output of outputs) {
    const source = maskOf.get(output);
    if (source === undefined) continue;
    const layer = layers.find((l) => l.name === output)!;
    refuse(
      layer,
      source,
      'and is a model output: Keras would leave the masked steps out of the loss, which is not supported.',
    );
  }
}
