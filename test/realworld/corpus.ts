/**
 * The published TF.js Layers models of `../shared/realworld-models/` (topology as their authors published it, no
 * weights), made computable: weights synthesized from each manifest (seeded, scaled by fan-in so activations stay in
 * range; positive variances), and a small batch of the model's input shapes (variable axes 8 long) with targets for a
 * loss that suits the output.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ArrayGroup } from '../../src/contract/data/array-group.js';
import type { Float32NdArray } from '../../src/contract/ndarray.js';
import { parseModel } from '../../src/contract/model/parse.js';
import type { ParsedModel } from '../../src/contract/model/parsed-model.js';
import type { ModelArtifacts } from '../../src/contract/types.js';
import type { LossSpecInput } from '../../src/contract/request-schema.js';
import { createRng } from '../../src/engine/estimators/rng.js';

export const CORPUS_DIR = path.resolve(import.meta.dirname, '../../../shared/realworld-models');
/** Length given to variable (null) input axes. */
export const VARIABLE_LENGTH = 8;
/** Seeds of the synthesized weights and batch, and of the probe vector; the committed references were made with them. */
export const CORPUS_SEEDS = { data: 1, vector: 3 } as const;
/** Examples per batch: two, or one for models whose example is large (images of 100k values and more). */
const MAX_BATCH_VALUES = 100_000;

export const corpusNames = (): string[] =>
  existsSync(CORPUS_DIR)
    ? readdirSync(CORPUS_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(path.join(CORPUS_DIR, d.name, 'model.json')))
        .map((d) => d.name)
        .sort()
    : [];

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface CorpusCase {
  name: string;
  dir: string;
  modelJsonText: string;
  /** Shard path (as the manifest names it) → bytes. */
  shards: Map<string, Uint8Array>;
  artifacts: ModelArtifacts;
  model: ParsedModel;
  /** Per model input, in order (one example axis of `numExamples`). */
  inputs: { name: string; array: Float32NdArray }[];
  targets: { name: string; array: Float32NdArray }[];
  loss: LossSpecInput;
}

/** Gaussian weights of std 1/√fan-in (fan-in: the product of all axes but the last); variances in [0.5, 1.5]. */
function synthesize(entry: ManifestEntry, rng: ReturnType<typeof createRng>): Float32Array {
  const size = entry.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  if (/variance/.test(entry.name)) {
    for (let i = 0; i < size; i++) values[i] = 0.5 + rng.uniform();
    return values;
  }
  if (/gamma|moving_mean|mean$/.test(entry.name) && entry.shape.length === 1) {
    for (let i = 0; i < size; i++) values[i] = (/gamma/.test(entry.name) ? 1 : 0) + 0.1 * rng.normal();
    return values;
  }
  const fanIn = entry.shape.length > 1 ? size / entry.shape[entry.shape.length - 1] : 1;
  const scale = entry.shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.1;
  for (let i = 0; i < size; i++) values[i] = scale * rng.normal();
  return values;
}

const array = (shape: number[], fill: (i: number) => number): Float32NdArray => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  return { dtype: 'float32', shape, data };
};

export function loadCorpusCase(name: string, seed: number = CORPUS_SEEDS.data): CorpusCase {
  const dir = path.join(CORPUS_DIR, name);
  const modelJsonText = readFileSync(path.join(dir, 'model.json'), 'utf8');
  const json = JSON.parse(modelJsonText) as {
    weightsManifest: { paths: string[]; weights: ManifestEntry[] }[];
  };
  const rng = createRng(seed);
  const shards = new Map<string, Uint8Array>();
  for (const group of json.weightsManifest) {
    const parts = group.weights.map((w) => synthesize(w, rng));
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let offset = 0;
    for (const p of parts) {
      bytes.set(new Uint8Array(p.buffer), offset);
      offset += p.byteLength;
    }
    // Split across the group's shard files as the converter does: equal pieces in order, the last shorter.
    const per = Math.ceil(bytes.byteLength / group.paths.length / 4) * 4;
    group.paths.forEach((p, i) =>
      shards.set(p, bytes.slice(i * per, Math.min(bytes.byteLength, (i + 1) * per))),
    );
  }
  const artifacts: ModelArtifacts = { modelJson: json, weights: shards };
  const declared = parseModel(artifacts);
  const exampleValues = declared.inputs.reduce(
    (n, input) => n + input.shape.slice(1).reduce<number>((a, d) => a * (d ?? VARIABLE_LENGTH), 1),
    0,
  );
  const numExamples = exampleValues >= MAX_BATCH_VALUES ? 1 : 2;
  const inputs = declared.inputs.map((input) => {
    const shape = [numExamples, ...input.shape.slice(1).map((d) => d ?? VARIABLE_LENGTH)];
    return { name: input.name, array: array(shape, () => rng.normal()) };
  });
  const group: ArrayGroup =
    inputs.length === 1 ? inputs[0].array : new Map(inputs.map((i) => [i.name, i.array]));
  const model = parseModel(artifacts, { inputs: group });
  const output = model.outputs[0];
  const outShape = model.layers.find((l) => l.name === output.name)!.outputShape;
  const activation = output.finalActivation.activation;
  const classes = outShape[outShape.length - 1];
  let loss: LossSpecInput;
  let targets: Float32NdArray;
  const shape = [numExamples, ...outShape];
  if (activation === 'softmax') {
    loss = { name: 'categorical_crossentropy' };
    targets = array(shape, (i) => (i % classes === (Math.floor(i / classes) * 7) % classes ? 1 : 0));
  } else if (activation === 'sigmoid') {
    loss = { name: 'binary_crossentropy' };
    targets = array(shape, () => rng.uniform());
  } else {
    loss = { name: 'mean_squared_error' };
    targets = array(shape, () => rng.normal());
  }
  return {
    name,
    dir,
    modelJsonText,
    shards,
    artifacts,
    model,
    inputs,
    targets: [{ name: output.name, array: targets }],
    loss,
  };
}

/** The case's inputs as a compute request takes them. */
export const inputGroup = (c: CorpusCase): ArrayGroup =>
  c.inputs.length === 1 ? c.inputs[0].array : new Map(c.inputs.map((i) => [i.name, i.array]));

/** A seeded gaussian direction of length P, float32 values held in float64 (what the engine computes with). */
export function probeVector(c: CorpusCase): Float64Array {
  const p = c.model.parameters.reduce((n, q) => n + q.size, 0);
  return Float64Array.from(Float32Array.from(createRng(CORPUS_SEEDS.vector).gaussianVector(p)));
}
