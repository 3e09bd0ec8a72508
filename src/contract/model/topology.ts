/**
 * Reads the Keras JSON topology that TF.js (and the Python converter) write into model.json: Sequential and
 * functional ("Model"/"Functional") graphs, Keras 2 and Keras 3 node formats, into a flat list of raw layers with
 * their inbound layer names (tf-free).
 */
import { EngineError } from '../errors.js';

export interface RawLayer {
  name: string;
  className: string;
  /** The layer config with keys in snake_case (TF.js camelCase keys are converted). */
  config: Record<string, unknown>;
  inbound: string[];
}

/** A model input: its InputLayer and declared batch shape (null batch; other null axes take the batch's size). */
export interface RawInput {
  layer: string;
  batchShape: (number | null)[];
  dtype: string;
}

export interface RawTopology {
  name: string;
  /** Every layer, nested Sequential/functional sub-models flattened into their place. */
  layers: RawLayer[];
  /** In the model's input order (Keras `input_layers`). */
  inputs: RawInput[];
  /** Names of the layers producing the model's outputs, in Keras `output_layers` order. */
  outputs: string[];
}

const NESTED_MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const snakeCase = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

function snakeKeys(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [snakeCase(k), v]));
}

const invalid = (message: string) => new EngineError('invalid_model', message);

/** Reads `dtype` whether a string or a Keras 3 DTypePolicy object. */
function dtypeName(dtype: unknown): string | undefined {
  if (typeof dtype === 'string') return dtype;
  if (isObject(dtype)) {
    const config = dtype.config;
    if (isObject(config) && typeof config.name === 'string') return config.name;
    if (typeof dtype.name === 'string') return dtype.name;
  }
  return undefined;
}

/** A layer entry, or a nested model to flatten (its entry kept whole). */
type Entry = { layer: RawLayer; nested?: Record<string, unknown> };

function readEntry(entry: unknown, index: number): Entry {
  if (!isObject(entry)) throw invalid(`Layer #${index} in the model topology is not an object.`);
  const className = entry.class_name ?? entry.className;
  if (typeof className !== 'string')
    throw invalid(`Layer #${index} in the model topology has no class_name.`);
  const config = isObject(entry.config) ? snakeKeys(entry.config) : {};
  const name = entry.name ?? config.name;
  if (typeof name !== 'string' || name === '') throw invalid(`Layer #${index} (${className}) has no name.`);
  const layer: RawLayer = { name, className, config, inbound: [] };
  return NESTED_MODEL_CLASSES.has(className) ? { layer, nested: entry } : { layer };
}

function declaredBatchShape(config: Record<string, unknown>): (number | null)[] | undefined {
  const batch = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(batch)) return batch as (number | null)[];
  if (Array.isArray(config.input_shape)) return [null, ...(config.input_shape as (number | null)[])];
  return undefined;
}

/** Collects `[layer, nodeIndex, tensorIndex]` references from a Keras 3 node's args (nested lists allowed). */
function kerasHistories(value: unknown, out: unknown[][]): void {
  if (Array.isArray(value)) {
    for (const v of value) kerasHistories(v, out);
  } else if (isObject(value)) {
    const config = value.config;
    if (isObject(config) && Array.isArray(config.keras_history)) out.push(config.keras_history);
  }
}

/**
 * The names of the layers feeding `layerName`. `models` names the nested models of this graph: a reference to one
 * may carry any node index (Keras counts the sub-model's own construction as node 0).
 */
function inboundNames(layerName: string, inboundNodes: unknown, models: ReadonlySet<string>): string[] {
  if (inboundNodes === undefined || inboundNodes === null) return [];
  if (!Array.isArray(inboundNodes)) throw invalid(`Layer "${layerName}" has malformed inbound_nodes.`);
  if (inboundNodes.length === 0) return [];
  if (inboundNodes.length > 1) {
    throw new EngineError(
      'unsupported_layer',
      `Layer "${layerName}" is called ${inboundNodes.length} times (a shared layer); shared layers are not supported.`,
      { layer: layerName },
    );
  }
  const node = inboundNodes[0];
  const refs: unknown[][] = [];
  if (isObject(node)) {
    // Keras 3: {args, kwargs}; a recurrent layer's initial states are the kwarg `initial_state`.
    kerasHistories(node.args, refs);
    if (isObject(node.kwargs)) kerasHistories(node.kwargs.initial_state, refs);
  } else if (Array.isArray(node)) refs.push(...(node as unknown[][])); // Keras 2 / TF.js: [[name, node, tensor, kwargs]]
  return refs.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') {
      throw invalid(`Layer "${layerName}" has a malformed inbound node reference.`);
    }
    const tensor: unknown = ref[2] ?? 0;
    if (
      (!models.has(ref[0]) && (ref[1] ?? 0) !== 0) ||
      typeof tensor !== 'number' ||
      !Number.isInteger(tensor) ||
      tensor < 0 ||
      (tensor > 0 && models.has(ref[0]))
    ) {
      throw new EngineError(
        'unsupported_layer',
        `Layer "${layerName}" reads output ${ref[2]} of call ${ref[1]} of "${ref[0]}"; only single-call layers are supported.`,
        { layer: layerName },
      );
    }
    return tensorName(ref[0], tensor);
  });
}

/**
 * How an inbound reference names a layer's output: the layer's name for its (first) output, `name:k` for its k-th
 * (a recurrent layer's states with return_state). TF names never contain ':'.
 */
export const tensorName = (layer: string, tensor: number) => (tensor === 0 ? layer : `${layer}:${tensor}`);

/** The layer producing a tensor named by `tensorName`. */
export const producerOf = (name: string) => {
  const colon = name.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(name.slice(colon + 1)) ? name.slice(0, colon) : name;
};

/**
 * `[["name", 0, 0], ...]`, a single `["name", 0, 0]` as Keras 3 writes one, or Keras 2.13+'s dict
 * `{"out": ["out", 0, 0]}` (in key order).
 */
function endpointNames(value: unknown, what: string): string[] {
  const list = isObject(value)
    ? Object.values(value)
    : Array.isArray(value)
      ? typeof value[0] === 'string'
        ? [value]
        : value
      : undefined;
  if (!list || list.length === 0) throw invalid(`The functional model has no ${what}.`);
  return list.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string')
      throw invalid(`The functional model's ${what} are malformed.`);
    if ((ref[2] ?? 0) !== 0) {
      throw new EngineError(
        'unsupported_layer',
        `The model's ${what} include output ${ref[2]} of "${ref[0]}" (a layer's extra output, such as a recurrent layer's return_state); only layers' first outputs can be model ${what}.`,
        { layer: ref[0] },
      );
    }
    return ref[0] as string;
  });
}

/** Depth of nested sub-models accepted (each level is one Sequential/functional model inside another). */
const MAX_NESTING = 8;

/**
 * Flattens `entries` into `out`: plain layers are copied; a nested model's layers are inlined, its InputLayers
 * replaced by what feeds the sub-model (`inbound`), and its name aliased to its output layer.
 */
function inline(
  entry: Entry,
  inbound: string[],
  out: RawLayer[],
  aliases: Map<string, string>,
  depth: number,
): void {
  if (!entry.nested) {
    out.push({ ...entry.layer, inbound });
    return;
  }
  const { name } = entry.layer;
  if (depth >= MAX_NESTING) throw invalid(`Sub-model "${name}" is nested more than ${MAX_NESTING} deep.`);
  const inner = readModel(entry.nested, depth + 1);
  if (inner.inputs.length !== inbound.length) {
    throw invalid(
      `Sub-model "${name}" has ${inner.inputs.length} input(s) but is called on ${inbound.length} tensor(s).`,
    );
  }
  if (inner.outputs.length !== 1) {
    throw new EngineError(
      'unsupported_layer',
      `Sub-model "${name}" has ${inner.outputs.length} outputs; a nested model must have one.`,
      { layer: name, className: entry.layer.className },
    );
  }
  inner.inputs.forEach((input, i) => aliases.set(input.layer, inbound[i]));
  for (const layer of inner.layers) {
    if (layer.className === 'InputLayer') continue;
    out.push(layer);
  }
  aliases.set(name, inner.outputs[0]);
}

function resolveAliases(topology: RawTopology, aliases: Map<string, string>): RawTopology {
  const resolve = (name: string) => {
    let current = name;
    for (let hops = 0; aliases.has(current); hops++) {
      if (hops > aliases.size) throw invalid(`The layer graph has a cycle through "${name}".`);
      current = aliases.get(current)!;
    }
    return current;
  };
  for (const layer of topology.layers) layer.inbound = layer.inbound.map(resolve);
  return { ...topology, outputs: topology.outputs.map(resolve) };
}

function readSequential(
  name: string,
  layerList: unknown[],
  buildInputShape: unknown,
  depth: number,
): RawTopology {
  const entries = layerList.map(readEntry);
  if (entries.length === 0) throw invalid('The Sequential model has no layers.');
  const first = entries[0];
  // Keras 3 may record the shape only as the model's build_input_shape; a nested model first may declare it.
  const batchShape =
    (first.nested ? undefined : declaredBatchShape(first.layer.config)) ??
    (Array.isArray(buildInputShape) ? (buildInputShape as (number | null)[]) : undefined) ??
    (first.nested ? readModel(first.nested, depth + 1).inputs[0]?.batchShape : undefined);
  if (!batchShape) {
    throw invalid(
      `The Sequential model does not declare its input shape (no batch_input_shape on "${first.layer.name}"); build it with an inputShape.`,
    );
  }
  const layers: RawLayer[] = [];
  const aliases = new Map<string, string>();
  let input: RawLayer;
  if (first.layer.className === 'InputLayer') {
    input = first.layer;
    entries.shift();
  } else {
    input = { name: `${first.layer.name}_input`, className: 'InputLayer', config: {}, inbound: [] };
  }
  layers.push(input);
  let previous = input.name;
  for (const entry of entries) {
    if (entry.layer.className === 'InputLayer') {
      throw invalid(`InputLayer "${entry.layer.name}" appears after the first layer of a Sequential model.`);
    }
    inline(entry, [previous], layers, aliases, depth);
    previous = entry.layer.name;
  }
  const dtype = first.nested ? undefined : dtypeName(first.layer.config.dtype);
  return resolveAliases(
    {
      name,
      layers,
      inputs: [{ layer: input.name, batchShape, dtype: dtype ?? 'float32' }],
      outputs: [previous],
    },
    aliases,
  );
}

function readFunctional(name: string, config: Record<string, unknown>, depth: number): RawTopology {
  if (!Array.isArray(config.layers)) throw invalid('The functional model has no layers list.');
  const entries = config.layers.map(readEntry);
  const models = new Set(entries.filter((e) => e.nested).map((e) => e.layer.name));
  const layers: RawLayer[] = [];
  const aliases = new Map<string, string>();
  config.layers.forEach((raw, i) => {
    const entry = entries[i];
    const inbound = inboundNames(entry.layer.name, (raw as Record<string, unknown>).inbound_nodes, models);
    inline(entry, inbound, layers, aliases, depth);
  });
  const inputs = endpointNames(config.input_layers, 'input_layers').map((inputName): RawInput => {
    const input = layers.find((l) => l.name === inputName);
    if (!input || input.className !== 'InputLayer')
      throw invalid(`Input layer "${inputName}" is not an InputLayer.`);
    const batchShape = declaredBatchShape(input.config);
    if (!batchShape) throw invalid(`Input layer "${input.name}" declares no batch_input_shape.`);
    return { layer: input.name, batchShape, dtype: dtypeName(input.config.dtype) ?? 'float32' };
  });
  const outputs = endpointNames(config.output_layers, 'output_layers');
  for (const output of outputs) {
    if (!layers.some((l) => l.name === output) && !aliases.has(output))
      throw invalid(`Output layer "${output}" is not in the model.`);
  }
  return resolveAliases({ name, layers, inputs, outputs }, aliases);
}

function readModel(topologyJson: unknown, depth: number): RawTopology {
  let topology = topologyJson;
  if (isObject(topology) && isObject(topology.model_config)) topology = topology.model_config;
  if (!isObject(topology)) throw invalid('modelTopology is not an object.');
  const className = topology.class_name ?? topology.className;
  const config = topology.config;
  if (className === 'Sequential') {
    // Older Keras wrote Sequential's config as the bare list of layers.
    if (Array.isArray(config)) return readSequential('sequential', config, undefined, depth);
    if (isObject(config) && Array.isArray(config.layers)) {
      const name = typeof config.name === 'string' ? config.name : 'sequential';
      const buildShape =
        config.build_input_shape ?? (topology.build_config as Record<string, unknown>)?.input_shape;
      return readSequential(name, config.layers, buildShape, depth);
    }
    throw invalid('The Sequential model has no layers list.');
  }
  if (className === 'Model' || className === 'Functional') {
    if (!isObject(config)) throw invalid('The functional model has no config.');
    return readFunctional(typeof config.name === 'string' ? config.name : 'model', config, depth);
  }
  throw invalid(
    `modelTopology.class_name is ${JSON.stringify(className)}; expected "Sequential", "Model" or "Functional" (a TF.js Layers model).`,
  );
}

/**
 * Reads a Keras topology object (`{class_name, config}`, optionally wrapped in `model_config`), nested
 * Sequential/functional sub-models flattened into the graph.
 * @throws EngineError('invalid_model' | 'unsupported_layer')
 */
export function readTopology(modelTopology: unknown): RawTopology {
  return readModel(modelTopology, 0);
}
