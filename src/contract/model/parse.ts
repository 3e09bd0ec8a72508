/**
 * TF.js Layers artifacts (model.json + weight shards in memory) → the normalized model the engine computes with.
 * tf-free: the HTTP service imports it to inspect uploads without loading TensorFlow.js.
 */
import { exampleShapesFor, type ArrayGroup } from '../data/array-group.js';
import { EngineError, isEngineError } from '../errors.js';
import { sizeOf } from '../ndarray.js';
import type { ModelArtifacts, ParamLayout } from '../types.js';
import { buildLayer, type WeightDecl } from './layer-builders.js';
import { resolveMasks } from './recurrent-builders.js';
import type { LayerSpec, ModelInput, ModelOutput, ParsedModel, Shape, WeightTensor } from './parsed-model.js';
import { producerOf, readTopology, tensorName, type RawLayer, type RawTopology } from './topology.js';
import { decodeWeightsManifest, type ManifestWeight } from './weights-manifest.js';
import { importOnnx } from '../onnx/import.js';
import { looksLikeOnnx } from '../onnx/onnx-proto.js';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function readModelJson(modelJson: unknown): Record<string, unknown> {
  let value = modelJson;
  if (value instanceof ArrayBuffer) value = new Uint8Array(value);
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (e) {
      throw new EngineError('invalid_model', `model.json is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(value)) throw new EngineError('invalid_model', 'model.json must be a JSON object.');
  if (value.format === 'graph-model') {
    throw new EngineError(
      'invalid_model',
      'model.json is a TF.js graph model (converted SavedModel); only Layers models (tf.LayersModel) are supported.',
    );
  }
  return value;
}

/** Orders layers so each comes after its inputs, keeping the file's order where it already is (it usually is). */
function topologicalOrder(layers: RawLayer[]): RawLayer[] {
  const byName = new Map<string, RawLayer>();
  for (const layer of layers) {
    if (byName.has(layer.name))
      throw new EngineError('invalid_model', `Two layers are named "${layer.name}".`);
    byName.set(layer.name, layer);
  }
  const ordered: RawLayer[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (layer: RawLayer) => {
    if (state.get(layer.name) === 'done') return;
    if (state.get(layer.name) === 'visiting') {
      throw new EngineError('invalid_model', `The layer graph has a cycle through "${layer.name}".`);
    }
    state.set(layer.name, 'visiting');
    for (const name of layer.inbound) {
      const source = byName.get(producerOf(name));
      if (!source)
        throw new EngineError('invalid_model', `Layer "${layer.name}" reads unknown layer "${name}".`);
      visit(source);
    }
    state.set(layer.name, 'done');
    ordered.push(layer);
  };
  layers.forEach(visit);
  return ordered;
}

/**
 * Finds a manifest weight by `layer/weight` (`layer/sublayer/weight` in Bidirectional), allowing what writers add:
 * a `:0` suffix, a model-name prefix (Keras 3, nested models), and one scope before the weight's own name (Keras 2's
 * RNN cells: `gru/gru_cell/kernel`, `bidirectional/forward_lstm/lstm_cell_2/kernel`; Keras 3's wrapped layers),
 * in that order of preference. A name that several manifest weights match equally well is refused.
 */
function manifestLookup(manifest: ManifestWeight[]): (fullName: string) => ManifestWeight | undefined {
  const byName = new Map<string, ManifestWeight>();
  for (const w of manifest) byName.set(w.name.replace(/:0$/, ''), w);
  const unique = (fullName: string, matches: [string, ManifestWeight][]) => {
    if (matches.length > 1) {
      throw new EngineError(
        'invalid_model',
        `Weight "${fullName}" matches several weightsManifest entries (${matches.map(([name]) => name).join(', ')}); which one is meant is ambiguous.`,
        { weight: fullName, candidates: matches.map(([name]) => name) },
      );
    }
    return matches[0]?.[1];
  };
  const endsAs = (name: string, fullName: string) => name === fullName || name.endsWith(`/${fullName}`);
  /** The name without its second-to-last segment (the cell scope), as TF.js reads Keras 2 RNN weights. */
  const unscoped = (name: string) => {
    const parts = name.split('/');
    return parts.length < 3 ? undefined : [...parts.slice(0, -2), parts[parts.length - 1]].join('/');
  };
  return (fullName) => {
    const exact = byName.get(fullName);
    if (exact) return exact;
    const entries = [...byName.entries()];
    const prefixed = entries.filter(([name]) => name.endsWith(`/${fullName}`));
    if (prefixed.length > 0) return unique(fullName, prefixed);
    return unique(
      fullName,
      entries.filter(([name]) => {
        const short = unscoped(name);
        return short !== undefined && endsAs(short, fullName);
      }),
    );
  };
}

function bindWeight(layer: string, decl: WeightDecl, found: ManifestWeight | undefined): WeightTensor {
  const name = `${layer}/${decl.name}`;
  if (!found) {
    throw new EngineError(
      'missing_weights',
      `Weight "${name}" [${decl.shape.join(', ')}] is not in weightsManifest.`,
      {
        weight: name,
      },
    );
  }
  if (found.shape.length !== decl.shape.length || found.shape.some((d, i) => d !== decl.shape[i])) {
    throw new EngineError(
      'invalid_model',
      `Weight "${found.name}" has shape [${found.shape.join(', ')}] but layer "${layer}" needs [${decl.shape.join(', ')}].`,
    );
  }
  if (!found.values) {
    throw new EngineError(
      'invalid_model',
      `Weight "${found.name}" is stored as ${found.storage}; only float32 weights are supported (re-export without quantization).`,
    );
  }
  return { name, layer, shape: decl.shape, trainable: decl.trainable, values: found.values };
}

/**
 * The activation producing the output, looking back through inference no-ops (Dropout after a softmax Dense).
 * A layer on that chain whose output also feeds another layer cannot be split at its logits, so the model then
 * reports a linear final activation (everything applied inside the network).
 */
function finalActivationOf(
  layers: LayerSpec[],
  outputLayer: string,
  outputs: readonly string[],
): ModelOutput['finalActivation'] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  // A layer read by another layer, or output twice, must stay whole.
  const consumers = (name: string) =>
    layers.filter((l) => l.inbound.includes(name)).length + outputs.filter((o) => o === name).length - 1;
  let layer = byName.get(outputLayer)!;
  if (consumers(layer.name) > 0) return { activation: 'linear', layer: outputLayer };
  while (layer.kind === 'identity' && layer.inbound.length === 1) {
    layer = byName.get(layer.inbound[0])!;
    if (consumers(layer.name) > 0 || outputs.includes(layer.name))
      return { activation: 'linear', layer: outputLayer };
  }
  const activation = 'activation' in layer ? layer.activation : 'linear';
  return { activation, layer: layer.name };
}

/** Sizes given to variable (null) input axes when no batch is at hand: two, to see which output axes follow them. */
const NOMINAL_SIZES = [64, 96] as const;

export interface ParseOptions {
  /**
   * The batch's inputs: null (variable) input axes take their size from them. Without them, null axes get nominal
   * sizes, and output axes that follow them are reported null.
   */
  inputs?: ArrayGroup;
}

interface Built {
  layers: LayerSpec[];
  weights: WeightTensor[];
  shapes: Map<string, Shape>;
}

/**
 * Runs a layer's builder, adding the layer's position (in model.json order, nested models flattened, input layers
 * not counted) to a refusal that does not say it yet, so the layer can be found in a large file.
 */
function withPosition<T>(layers: readonly RawLayer[], raw: RawLayer, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (!isEngineError(e) || e.details?.position !== undefined) throw e;
    const counted = layers.filter((l) => l.className !== 'InputLayer');
    const position = counted.indexOf(raw) + 1;
    const where = `layer ${position} of ${counted.length}`;
    const quoted = `"${raw.name}"`;
    const withClass = `${quoted} (${raw.className})`;
    // `Layer "x" (Class): ...` → `Layer "x" (Class) [layer k of n]: ...`; else after the name, or as a prefix.
    const anchor = e.message.includes(withClass) ? withClass : quoted;
    const message = e.message.includes(anchor)
      ? e.message.replace(anchor, `${anchor} [${where}]`)
      : `Layer ${quoted} [${where}]: ${e.message}`;
    throw new EngineError(e.code, message, { ...e.details, position });
  }
}

function buildGraph(
  topology: RawTopology,
  inputShapes: Shape[],
  lookup: (fullName: string) => ManifestWeight | undefined,
  used: Set<ManifestWeight>,
): Built {
  const inputIndex = new Map(topology.inputs.map((input, i) => [input.layer, i]));
  const shapes = new Map<string, Shape>();
  const layers: LayerSpec[] = [];
  const weights: WeightTensor[] = [];
  for (const raw of topologicalOrder(topology.layers)) {
    if (raw.className === 'InputLayer') {
      const index = inputIndex.get(raw.name);
      if (index === undefined) throw new EngineError('invalid_model', `Extra input layer "${raw.name}".`);
      const shape = inputShapes[index];
      shapes.set(raw.name, shape);
      layers.push({ ...raw, kind: 'input', inputShapes: [], outputShape: shape, weightNames: [] });
      continue;
    }
    const inputShapesOfLayer = raw.inbound.map((name) => {
      const shape = shapes.get(name);
      if (!shape) {
        throw new EngineError(
          'invalid_model',
          `Layer "${raw.name}" reads output ${name.slice(producerOf(name).length + 1)} of "${producerOf(name)}", which has no such output.`,
          { layer: raw.name },
        );
      }
      return shape;
    });
    if (inputShapesOfLayer.length === 0)
      throw new EngineError('invalid_model', `Layer "${raw.name}" has no inputs.`);
    const built = withPosition(topology.layers, raw, () => buildLayer(raw, inputShapesOfLayer));
    const bound = built.weights.flatMap((decl) => {
      const found = lookup(`${raw.name}/${decl.name}`);
      if (found) used.add(found);
      return decl.unread ? [] : [bindWeight(raw.name, decl, found)];
    });
    weights.push(...bound);
    shapes.set(raw.name, built.outputShape);
    built.extraOutputShapes?.forEach((shape, k) => shapes.set(tensorName(raw.name, k + 1), shape));
    layers.push({
      ...built.op,
      name: raw.name,
      className: raw.className,
      inbound: raw.inbound,
      inputShapes: inputShapesOfLayer,
      outputShape: built.outputShape,
      ...(built.extraOutputShapes ? { extraOutputShapes: built.extraOutputShapes } : {}),
      weightNames: bound.map((w) => w.name),
    });
  }
  resolveMasks(layers, topology.layers, topology.outputs);
  return { layers, weights, shapes };
}

/** Declared input shapes with null axes filled from the batch (when its rank matches) or with `nominal`. */
function resolveInputShapes(
  topology: RawTopology,
  exampleShapes: readonly (readonly number[])[] | undefined,
  nominal: number,
): Shape[] {
  return topology.inputs.map((input, i) => {
    const declared = input.batchShape.slice(1);
    const given = exampleShapes?.[i];
    const fits = given !== undefined && given.length === declared.length;
    return declared.map((d, axis) => (d === null ? (fits ? given[axis] : nominal) : d));
  });
}

/**
 * Parses TF.js Layers artifacts: `modelJson` as an object, a JSON string or its bytes, with `modelTopology`
 * (Sequential or functional Keras JSON, nested sub-models flattened) and `weightsManifest` whose shard paths are
 * looked up in `weights`.
 *
 * @returns layers in topological order with resolved shapes, all weights in model weight order (layer order,
 *   Keras order within a layer), the layout of the trainable ones in θ, and the model's inputs and outputs
 * @throws EngineError('invalid_model') for malformed JSON, topology, shapes or shard sizes;
 *   EngineError('unsupported_layer') for a layer class, activation or option outside the supported set;
 *   EngineError('missing_weights') for a missing shard file or weight
 */
export function parseModel(artifacts: ModelArtifacts, options: ParseOptions = {}): ParsedModel {
  // An ONNX file (bytes of a protobuf ModelProto, never JSON text) goes to the ONNX importer.
  const raw =
    artifacts.modelJson instanceof ArrayBuffer ? new Uint8Array(artifacts.modelJson) : artifacts.modelJson;
  if (raw instanceof Uint8Array && looksLikeOnnx(raw)) return importOnnx(raw);
  const json = readModelJson(artifacts.modelJson);
  const topologyJson = json.modelTopology ?? (json.class_name !== undefined ? json : undefined);
  if (topologyJson === undefined) throw new EngineError('invalid_model', 'model.json has no modelTopology.');
  const topology = readTopology(topologyJson);

  let variable = false;
  for (const input of topology.inputs) {
    const shape = input.batchShape.slice(1);
    if (shape.length === 0 || shape.some((d) => d !== null && (!Number.isInteger(d) || d < 1))) {
      throw new EngineError(
        'invalid_model',
        `Input "${input.layer}" has shape [${input.batchShape.map(String).join(', ')}]; every axis after the batch must be a positive size or null.`,
      );
    }
    variable ||= shape.includes(null);
  }

  const manifest = decodeWeightsManifest(json.weightsManifest, artifacts.weights);
  const lookup = manifestLookup(manifest);
  const used = new Set<ManifestWeight>();
  const exampleShapes =
    variable && options.inputs
      ? exampleShapesFor(
          options.inputs,
          topology.inputs.map((i) => i.layer),
        )
      : undefined;
  const sizes = variable && !exampleShapes ? NOMINAL_SIZES : [NOMINAL_SIZES[0]];
  const builds = sizes.map((nominal) => {
    try {
      return buildGraph(topology, resolveInputShapes(topology, exampleShapes, nominal), lookup, used);
    } catch (e) {
      if (!variable || exampleShapes || !isEngineError(e) || e.code !== 'invalid_model') throw e;
      throw new EngineError(
        'invalid_model',
        `${e.message} (The model's input has variable (null) axes, sized ${nominal} here for checking: a layer whose weights or shapes depend on such an axis needs its size declared.)`,
        e.details,
      );
    }
  });
  const [{ layers, weights, shapes }] = builds;
  if (builds.length > 1) {
    const other = builds[1].weights;
    const differs = weights.find((w, i) => w.shape.join() !== other[i].shape.join());
    if (differs) {
      throw new EngineError(
        'invalid_model',
        `Weight "${differs.name}" changes shape with the length of the model's variable (null) input axes; declare those axes' sizes.`,
      );
    }
  }

  const unused = manifest.filter((w) => !used.has(w)).map((w) => w.name);
  if (unused.length > 0) {
    throw new EngineError(
      'invalid_model',
      `weightsManifest holds weights no layer of this topology uses: ${unused.slice(0, 10).join(', ')}${unused.length > 10 ? ', ...' : ''}.`,
    );
  }

  const parameters: ParamLayout[] = [];
  let offset = 0;
  for (const w of weights) {
    if (!w.trainable) continue;
    const size = sizeOf(w.shape);
    parameters.push({ name: w.name, layer: w.layer, shape: w.shape, offset, size });
    offset += size;
  }

  const inputs: ModelInput[] = topology.inputs.map((input) => ({
    name: input.layer,
    shape: [null, ...input.batchShape.slice(1)],
    dtype: /^u?int/.test(input.dtype) ? 'int32' : 'float32',
  }));
  const outputs: ModelOutput[] = topology.outputs.map((name) => {
    const shape = shapes.get(name)!;
    const alternative = builds.length > 1 ? builds[1].shapes.get(name)! : shape;
    return {
      name,
      shape: [null, ...shape.map((d, i) => (alternative[i] === d ? d : null))],
      finalActivation: finalActivationOf(layers, name, topology.outputs),
    };
  });
  return { name: topology.name, layers, weights, parameters, inputs, outputs };
}
