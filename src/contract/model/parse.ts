/**
 * TF.js Layers artifacts (model.json + weight shards in memory) → the normalized model the engine computes with.
 * tf-free: the HTTP service imports it to inspect uploads without loading TensorFlow.js.
 */
import { EngineError } from '../errors.js';
import { sizeOf } from '../ndarray.js';
import type { ModelArtifacts, ParamLayout } from '../types.js';
import { buildLayer, type WeightDecl } from './layer-builders.js';
import type { LayerSpec, ParsedModel, Shape, WeightTensor } from './parsed-model.js';
import { readTopology, type RawLayer } from './topology.js';
import { decodeWeightsManifest, type ManifestWeight } from './weights-manifest.js';

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
      const source = byName.get(name);
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

/** Finds a manifest weight by `layer/weight`, allowing a model-name prefix or a `:0` suffix as some writers add. */
function manifestLookup(manifest: ManifestWeight[]): (fullName: string) => ManifestWeight | undefined {
  const byName = new Map<string, ManifestWeight>();
  for (const w of manifest) byName.set(w.name.replace(/:0$/, ''), w);
  return (fullName) => {
    const exact = byName.get(fullName);
    if (exact) return exact;
    const suffixed = [...byName.entries()].filter(([name]) => name.endsWith(`/${fullName}`));
    return suffixed.length === 1 ? suffixed[0][1] : undefined;
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
function finalActivationOf(layers: LayerSpec[], outputLayer: string): ParsedModel['finalActivation'] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const consumers = (name: string) => layers.filter((l) => l.inbound.includes(name)).length;
  let layer = byName.get(outputLayer)!;
  if (consumers(layer.name) > 0) return { activation: 'linear', layer: outputLayer };
  while (layer.kind === 'identity' && layer.inbound.length === 1) {
    layer = byName.get(layer.inbound[0])!;
    if (consumers(layer.name) > 1) return { activation: 'linear', layer: outputLayer };
  }
  const activation = 'activation' in layer ? layer.activation : 'linear';
  return { activation, layer: layer.name };
}

/**
 * Parses TF.js Layers artifacts: `modelJson` as an object, a JSON string or its bytes, with `modelTopology`
 * (Sequential or functional Keras JSON) and `weightsManifest` whose shard paths are looked up in `weights`.
 *
 * @returns layers in topological order with resolved shapes, all weights in model weight order (layer order,
 *   Keras order within a layer), and the layout of the trainable ones in θ
 * @throws EngineError('invalid_model') for malformed JSON, topology, shapes or shard sizes;
 *   EngineError('unsupported_layer') for a layer class, activation or option outside the supported set;
 *   EngineError('missing_weights') for a missing shard file or weight
 */
export function parseModel(artifacts: ModelArtifacts): ParsedModel {
  const json = readModelJson(artifacts.modelJson);
  const topologyJson = json.modelTopology ?? (json.class_name !== undefined ? json : undefined);
  if (topologyJson === undefined) throw new EngineError('invalid_model', 'model.json has no modelTopology.');
  const topology = readTopology(topologyJson);

  const inputShape = topology.batchInputShape.slice(1);
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || (d as number) < 1)) {
    throw new EngineError(
      'invalid_model',
      `The input shape [${topology.batchInputShape.map(String).join(', ')}] must be fully defined apart from the batch axis.`,
    );
  }

  const manifest = decodeWeightsManifest(json.weightsManifest, artifacts.weights);
  const lookup = manifestLookup(manifest);
  const used = new Set<ManifestWeight>();

  const shapes = new Map<string, Shape>();
  const layers: LayerSpec[] = [];
  const weights: WeightTensor[] = [];
  for (const raw of topologicalOrder(topology.layers)) {
    if (raw.className === 'InputLayer') {
      if (raw.name !== topology.inputLayer)
        throw new EngineError('invalid_model', `Extra input layer "${raw.name}".`);
      shapes.set(raw.name, inputShape as Shape);
      layers.push({
        ...raw,
        kind: 'input',
        inputShapes: [],
        outputShape: inputShape as Shape,
        weightNames: [],
      });
      continue;
    }
    const inputShapes = raw.inbound.map((name) => shapes.get(name)!);
    if (inputShapes.length === 0)
      throw new EngineError('invalid_model', `Layer "${raw.name}" has no inputs.`);
    const built = buildLayer(raw, inputShapes);
    const bound = built.weights.map((decl) => {
      const found = lookup(`${raw.name}/${decl.name}`);
      if (found) used.add(found);
      return bindWeight(raw.name, decl, found);
    });
    weights.push(...bound);
    shapes.set(raw.name, built.outputShape);
    layers.push({
      ...built.op,
      name: raw.name,
      className: raw.className,
      inbound: raw.inbound,
      inputShapes,
      outputShape: built.outputShape,
      weightNames: bound.map((w) => w.name),
    });
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

  const inputDtype = /^u?int/.test(topology.inputDtype) ? 'int32' : 'float32';
  return {
    name: topology.name,
    layers,
    weights,
    parameters,
    inputLayer: topology.inputLayer,
    outputLayer: topology.outputLayer,
    inputShape: [null, ...(inputShape as number[])],
    inputDtype,
    outputShape: [null, ...shapes.get(topology.outputLayer)!],
    finalActivation: finalActivationOf(layers, topology.outputLayer),
  };
}
