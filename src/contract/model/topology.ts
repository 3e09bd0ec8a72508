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

export interface RawTopology {
  name: string;
  layers: RawLayer[];
  /** Batch input shape (null batch) declared by the input layer or the first Sequential layer. */
  batchInputShape: (number | null)[];
  inputDtype: string;
  inputLayer: string;
  outputLayer: string;
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

function readLayerHeader(entry: unknown, index: number): RawLayer {
  if (!isObject(entry)) throw invalid(`Layer #${index} in the model topology is not an object.`);
  const className = entry.class_name ?? entry.className;
  if (typeof className !== 'string')
    throw invalid(`Layer #${index} in the model topology has no class_name.`);
  const config = isObject(entry.config) ? snakeKeys(entry.config) : {};
  const name = entry.name ?? config.name;
  if (typeof name !== 'string' || name === '') throw invalid(`Layer #${index} (${className}) has no name.`);
  if (NESTED_MODEL_CLASSES.has(className)) {
    throw new EngineError(
      'unsupported_layer',
      `Layer "${name}" is a nested ${className} model; nested models are not supported. Rebuild the model flat.`,
      { layer: name, className },
    );
  }
  return { name, className, config, inbound: [] };
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

function inboundNames(layerName: string, inboundNodes: unknown): string[] {
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
  if (isObject(node))
    kerasHistories(node.args, refs); // Keras 3: {args, kwargs}
  else if (Array.isArray(node)) refs.push(...(node as unknown[][])); // Keras 2 / TF.js: [[name, node, tensor, kwargs]]
  return refs.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') {
      throw invalid(`Layer "${layerName}" has a malformed inbound node reference.`);
    }
    if ((ref[1] ?? 0) !== 0 || (ref[2] ?? 0) !== 0) {
      throw new EngineError(
        'unsupported_layer',
        `Layer "${layerName}" reads output ${ref[2]} of call ${ref[1]} of "${ref[0]}"; only single-output, single-call layers are supported.`,
        { layer: layerName },
      );
    }
    return ref[0];
  });
}

/** `[["name", 0, 0]]` or, as Keras 3 writes a single one, `["name", 0, 0]`. */
function endpointNames(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw invalid(`The functional model has no ${what}.`);
  const list = typeof value[0] === 'string' ? [value] : value;
  return list.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string')
      throw invalid(`The functional model's ${what} are malformed.`);
    return ref[0] as string;
  });
}

function readSequential(name: string, layerList: unknown[], buildInputShape?: unknown): RawTopology {
  const headers = layerList.map(readLayerHeader);
  if (headers.length === 0) throw invalid('The Sequential model has no layers.');
  const first = headers[0];
  // Keras 3 may record the shape only as the model's build_input_shape.
  const batchInputShape =
    declaredBatchShape(first.config) ??
    (Array.isArray(buildInputShape) ? (buildInputShape as (number | null)[]) : undefined);
  if (!batchInputShape) {
    throw invalid(
      `The Sequential model does not declare its input shape (no batch_input_shape on "${first.name}"); build it with an inputShape.`,
    );
  }
  const layers: RawLayer[] = [];
  if (first.className !== 'InputLayer') {
    layers.push({
      name: `${first.name}_input`,
      className: 'InputLayer',
      config: { ...first.config },
      inbound: [],
    });
  }
  for (const layer of headers) {
    if (layer.className === 'InputLayer' && layers.length > 0) {
      throw invalid(`InputLayer "${layer.name}" appears after the first layer of a Sequential model.`);
    }
    layers.push({ ...layer, inbound: layers.length > 0 ? [layers[layers.length - 1].name] : [] });
  }
  return {
    name,
    layers,
    batchInputShape,
    inputDtype: dtypeName(first.config.dtype) ?? 'float32',
    inputLayer: layers[0].name,
    outputLayer: layers[layers.length - 1].name,
  };
}

function readFunctional(name: string, config: Record<string, unknown>): RawTopology {
  if (!Array.isArray(config.layers)) throw invalid('The functional model has no layers list.');
  const layers = config.layers.map((entry, i) => {
    const layer = readLayerHeader(entry, i);
    layer.inbound = inboundNames(layer.name, (entry as Record<string, unknown>).inbound_nodes);
    return layer;
  });
  const inputs = endpointNames(config.input_layers, 'input_layers');
  const outputs = endpointNames(config.output_layers, 'output_layers');
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw new EngineError(
      'invalid_model',
      `The model has ${inputs.length} inputs and ${outputs.length} outputs; only single-input, single-output models are supported.`,
    );
  }
  const input = layers.find((l) => l.name === inputs[0]);
  if (!input || input.className !== 'InputLayer')
    throw invalid(`Input layer "${inputs[0]}" is not an InputLayer.`);
  const batchInputShape = declaredBatchShape(input.config);
  if (!batchInputShape) throw invalid(`Input layer "${input.name}" declares no batch_input_shape.`);
  if (!layers.some((l) => l.name === outputs[0]))
    throw invalid(`Output layer "${outputs[0]}" is not in the model.`);
  return {
    name,
    layers,
    batchInputShape,
    inputDtype: dtypeName(input.config.dtype) ?? 'float32',
    inputLayer: input.name,
    outputLayer: outputs[0],
  };
}

/**
 * Reads a Keras topology object (`{class_name, config}`, optionally wrapped in `model_config`).
 * @throws EngineError('invalid_model' | 'unsupported_layer')
 */
export function readTopology(modelTopology: unknown): RawTopology {
  let topology = modelTopology;
  if (isObject(topology) && isObject(topology.model_config)) topology = topology.model_config;
  if (!isObject(topology)) throw invalid('modelTopology is not an object.');
  const className = topology.class_name ?? topology.className;
  const config = topology.config;
  if (className === 'Sequential') {
    // Older Keras wrote Sequential's config as the bare list of layers.
    if (Array.isArray(config)) return readSequential('sequential', config);
    if (isObject(config) && Array.isArray(config.layers)) {
      const name = typeof config.name === 'string' ? config.name : 'sequential';
      return readSequential(name, config.layers, config.build_input_shape);
    }
    throw invalid('The Sequential model has no layers list.');
  }
  if (className === 'Model' || className === 'Functional') {
    if (!isObject(config)) throw invalid('The functional model has no config.');
    return readFunctional(typeof config.name === 'string' ? config.name : 'model', config);
  }
  throw invalid(
    `modelTopology.class_name is ${JSON.stringify(className)}; expected "Sequential", "Model" or "Functional" (a TF.js Layers model).`,
  );
}
