import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { EngineError } from '../../../src/contract/errors.js';
import { normalizeActivation } from '../../../src/contract/model/activation-names.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import type { ModelArtifacts } from '../../../src/contract/types.js';
import { inspectModel } from '../../../src/contract/inspect-model.js';
import { randomizeWeights, toArtifacts } from './helpers.js';

const L = tf.layers;
let base: ModelArtifacts;

/** A deep copy of the base artifacts whose model.json `edit` may change. */
function variant(edit: (json: any) => void = () => {}, weights = base.weights): ModelArtifacts {
  const json = structuredClone(base.modelJson) as any;
  edit(json);
  return { modelJson: json, weights: new Map(weights) };
}

function rejects(artifacts: ModelArtifacts, code: string, ...fragments: (string | RegExp)[]): EngineError {
  try {
    parseModel(artifacts);
  } catch (e) {
    assert.ok(e instanceof EngineError, `expected an EngineError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.match(e.message, typeof f === 'string' ? new RegExp(escape(f)) : f);
    return e;
  }
  assert.fail('parseModel accepted the artifacts');
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function artifactsOf(layers: tf.layers.Layer[]): Promise<ModelArtifacts> {
  const model = tf.sequential({ layers });
  randomizeWeights(model, 1);
  const artifacts = await toArtifacts(model);
  model.dispose();
  return artifacts;
}

before(async () => {
  base = await artifactsOf([
    L.dense({ inputShape: [4], units: 3, activation: 'relu', name: 'hidden' }),
    L.batchNormalization({ name: 'norm' }),
    L.dense({ units: 2, activation: 'softmax', name: 'out' }),
  ]);
});

describe('parseModel', () => {
  it('lays out trainable weights in layer order, Keras order within a layer, moving statistics excluded', () => {
    const model = parseModel(base);
    assert.deepEqual(
      model.weights.map((w) => [w.name, w.trainable]),
      [
        ['hidden/kernel', true],
        ['hidden/bias', true],
        ['norm/gamma', true],
        ['norm/beta', true],
        ['norm/moving_mean', false],
        ['norm/moving_variance', false],
        ['out/kernel', true],
        ['out/bias', true],
      ],
    );
    assert.deepEqual(model.parameters, [
      { name: 'hidden/kernel', layer: 'hidden', shape: [4, 3], offset: 0, size: 12 },
      { name: 'hidden/bias', layer: 'hidden', shape: [3], offset: 12, size: 3 },
      { name: 'norm/gamma', layer: 'norm', shape: [3], offset: 15, size: 3 },
      { name: 'norm/beta', layer: 'norm', shape: [3], offset: 18, size: 3 },
      { name: 'out/kernel', layer: 'out', shape: [3, 2], offset: 21, size: 6 },
      { name: 'out/bias', layer: 'out', shape: [2], offset: 27, size: 2 },
    ]);
    assert.equal(model.inputs.length, 1);
    assert.deepEqual(model.inputs[0].shape, [null, 4]);
    assert.equal(model.inputs[0].dtype, 'float32');
    assert.equal(model.outputs.length, 1);
    assert.deepEqual(model.outputs[0].shape, [null, 2]);
    assert.deepEqual(model.outputs[0].finalActivation, { activation: 'softmax', layer: 'out' });
  });

  it('reads the weight values from the shard at their manifest offsets', () => {
    const model = parseModel(base);
    const shard = base.weights.get('group1-shard1of1.bin')!;
    const all = new Float32Array(shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength));
    // TF.js writes trainable weights first, then the moving statistics: match by manifest order, not layer order.
    const specs = (base.modelJson as any).weightsManifest[0].weights as { name: string; shape: number[] }[];
    let offset = 0;
    for (const spec of specs) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const w = model.weights.find((x) => spec.name === x.name)!;
      assert.deepEqual(w.values, all.slice(offset, offset + size));
      offset += size;
    }
  });

  it('accepts model.json as a string or as bytes', () => {
    const text = JSON.stringify(base.modelJson);
    const expected = parseModel(base).parameters;
    assert.deepEqual(parseModel({ modelJson: text, weights: base.weights }).parameters, expected);
    assert.deepEqual(
      parseModel({ modelJson: new TextEncoder().encode(text), weights: base.weights }).parameters,
      expected,
    );
  });

  it('excludes the weights of a layer marked trainable: false from θ', () => {
    const model = parseModel(variant((j) => (j.modelTopology.config.layers[0].config.trainable = false)));
    assert.deepEqual(
      model.parameters.map((p) => p.name),
      ['norm/gamma', 'norm/beta', 'out/kernel', 'out/bias'],
    );
  });

  it('accepts the older Sequential config written as a bare list, camelCase keys and camelCase activations', () => {
    const model = parseModel(
      variant((j) => {
        const layers = j.modelTopology.config.layers;
        layers[0].config.batchInputShape = layers[0].config.batch_input_shape;
        delete layers[0].config.batch_input_shape;
        layers[0].config.activation = 'hardSigmoid';
        j.modelTopology.config = layers;
      }),
    );
    assert.equal(model.layers[1].kind === 'dense' && model.layers[1].activation, 'hard_sigmoid');
    assert.equal(model.parameters.length, 6);
  });

  it('finds shards named with a ./ prefix or a directory', () => {
    const bytes = base.weights.get('group1-shard1of1.bin')!;
    const prefixed = variant((j) => (j.weightsManifest[0].paths = ['./group1-shard1of1.bin']));
    assert.equal(parseModel(prefixed).parameters.length, 6);
    const uploaded = variant(() => {}, new Map([['uploads/abc/group1-shard1of1.bin', bytes]]));
    assert.equal(parseModel(uploaded).parameters.length, 6);
  });

  it('skips optimizer weights stored after the model weights', () => {
    const bytes = base.weights.get('group1-shard1of1.bin')!;
    const withOptimizer = new Uint8Array(bytes.length + 8);
    withOptimizer.set(bytes);
    const artifacts = variant(
      (j) =>
        j.weightsManifest[0].weights.push({
          name: 'Adam/iter',
          shape: [2],
          dtype: 'float32',
          group: 'optimizer',
        }),
      new Map([['group1-shard1of1.bin', withOptimizer]]),
    );
    assert.equal(parseModel(artifacts).weights.length, 8);
  });

  it('parses a Keras 3 functional model (keras_history node references, batch_shape, dtype policies)', () => {
    const dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } };
    const ref = (name: string) => ({
      class_name: '__keras_tensor__',
      config: { shape: [null, 4], keras_history: [name, 0, 0] },
    });
    const modelJson = {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Functional',
        config: {
          name: 'functional',
          layers: [
            {
              class_name: 'InputLayer',
              name: 'x',
              config: { batch_shape: [null, 4], dtype: 'float32', name: 'x' },
              inbound_nodes: [],
            },
            {
              class_name: 'Dense',
              name: 'a',
              config: { name: 'a', units: 4, activation: 'silu', dtype },
              inbound_nodes: [{ args: [ref('x')], kwargs: {} }],
            },
            {
              class_name: 'Dense',
              name: 'b',
              config: { name: 'b', units: 4, dtype, use_bias: false },
              inbound_nodes: [{ args: [ref('x')], kwargs: {} }],
            },
            {
              class_name: 'Add',
              name: 'sum',
              config: { name: 'sum', dtype },
              inbound_nodes: [{ args: [[ref('a'), ref('b')]], kwargs: {} }],
            },
          ],
          input_layers: ['x', 0, 0],
          output_layers: ['sum', 0, 0],
        },
      },
      weightsManifest: [
        {
          paths: ['w.bin'],
          weights: [
            { name: 'a/kernel', shape: [4, 4], dtype: 'float32' },
            { name: 'a/bias', shape: [4], dtype: 'float32' },
            { name: 'b/kernel', shape: [4, 4], dtype: 'float32' },
          ],
        },
      ],
    };
    const model = parseModel({ modelJson, weights: new Map([['w.bin', new Uint8Array(36 * 4)]]) });
    assert.deepEqual(
      model.layers.map((l) => [l.name, l.kind, l.inbound]),
      [
        ['x', 'input', []],
        ['a', 'dense', ['x']],
        ['b', 'dense', ['x']],
        ['sum', 'add', ['a', 'b']],
      ],
    );
    assert.equal(model.layers[1].kind === 'dense' && model.layers[1].activation, 'swish');
    assert.deepEqual(model.outputs[0].shape, [null, 4]);
  });

  it('reads a Keras 3 Sequential input shape from an InputLayer or from build_input_shape', () => {
    const withInputLayer = variant((j) => {
      const layers = j.modelTopology.config.layers;
      const shape = layers[0].config.batch_input_shape;
      delete layers[0].config.batch_input_shape;
      layers.unshift({
        class_name: 'InputLayer',
        config: { batch_shape: shape, dtype: 'float32', name: 'x' },
      });
    });
    assert.deepEqual(
      parseModel(withInputLayer).layers.map((l) => l.name),
      ['x', 'hidden', 'norm', 'out'],
    );
    const withBuildShape = variant((j) => {
      const config = j.modelTopology.config;
      config.build_input_shape = config.layers[0].config.batch_input_shape;
      delete config.layers[0].config.batch_input_shape;
    });
    assert.deepEqual(parseModel(withBuildShape).inputs[0].shape, [null, 4]);
  });

  it('reads activation names in TF.js camelCase, Keras snake_case and Keras 3 object form', () => {
    const read = (raw: unknown) => normalizeActivation(raw, 'layer', 'Dense');
    assert.equal(read('hardSigmoid'), 'hard_sigmoid');
    assert.equal(read('hard_sigmoid'), 'hard_sigmoid');
    assert.equal(read('silu'), 'swish');
    assert.equal(read({ class_name: 'function', config: 'gelu' }), 'gelu');
    assert.equal(read({ class_name: 'relu6' }), 'relu6');
    assert.equal(read(null), 'linear');
  });

  it('infers the shapes of a convolutional stack', async () => {
    const artifacts = await artifactsOf([
      L.conv2d({ inputShape: [7, 6, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same' }),
      L.maxPooling2d({ poolSize: 2, padding: 'same' }),
      L.conv2d({ filters: 4, kernelSize: 2, dilationRate: 2, padding: 'same' }),
      L.flatten(),
      L.dense({ units: 5 }),
    ]);
    const model = parseModel(artifacts);
    assert.deepEqual(
      model.layers.map((l) => l.outputShape),
      [[7, 6, 2], [4, 3, 3], [2, 2, 3], [2, 2, 4], [16], [5]],
    );
  });
});

describe('parseModel rejects what it cannot compute, saying why', () => {
  it('garbage JSON', () => {
    rejects({ modelJson: '{"modelTopology": [', weights: new Map() }, 'invalid_model', 'not valid JSON');
    rejects({ modelJson: 42, weights: new Map() }, 'invalid_model', 'JSON object');
    rejects(
      { modelJson: { format: 'layers-model' }, weights: new Map() },
      'invalid_model',
      'no modelTopology',
    );
  });

  it('a graph model', () => {
    rejects(
      variant((j) => (j.format = 'graph-model')),
      'invalid_model',
      'graph model',
    );
  });

  it('an unsupported layer, naming it, its class and the supported set', async () => {
    const artifacts = await artifactsOf([
      L.conv3d({ inputShape: [3, 3, 3, 1], filters: 1, kernelSize: 2, name: 'memory' }),
    ]);
    const e = rejects(
      artifacts,
      'unsupported_layer',
      '"memory"',
      'Conv3D',
      'Dense',
      'Conv2D',
      'BatchNormalization',
      'Embedding',
    );
    assert.equal(e.details?.className, 'Conv3D');
    assert.match(e.message, /"memory" \[layer 1 of 1\]/);
    assert.equal(e.details?.position, 1);
  });

  it('an unsupported activation, naming it and the supported set', () => {
    rejects(
      variant((j) => (j.modelTopology.config.layers[0].config.activation = 'mish')),
      'unsupported_layer',
      '"hidden"',
      '"mish"',
      'hard_sigmoid',
      'gelu',
    );
  });

  it('a missing shard, naming the file to upload', () => {
    rejects(
      variant(() => {}, new Map()),
      'missing_weights',
      'group1-shard1of1.bin',
    );
  });

  it('a short or long shard, with the expected and actual byte counts', () => {
    const bytes = base.weights.get('group1-shard1of1.bin')!;
    const expected = bytes.length;
    for (const wrong of [bytes.slice(0, expected - 4), new Uint8Array(expected + 4)]) {
      rejects(
        variant(() => {}, new Map([['group1-shard1of1.bin', wrong]])),
        'invalid_model',
        `holds ${wrong.length} bytes`,
        `describes ${expected} bytes`,
      );
    }
  });

  it('a weight missing from the manifest, or of the wrong shape', () => {
    rejects(
      variant((j) => (j.weightsManifest[0].weights[0].name = 'elsewhere/kernel')),
      'missing_weights',
      'hidden/kernel',
    );
    rejects(
      variant((j) => (j.weightsManifest[0].weights[0].shape = [3, 4])),
      'invalid_model',
      '[3, 4]',
      'needs [4, 3]',
    );
  });

  it('quantized or non-float32 weights', () => {
    rejects(
      variant((j) => (j.weightsManifest[0].weights[0].dtype = 'string')),
      'invalid_model',
      'only float32',
    );
    const quantized = variant((j) => {
      const spec = j.weightsManifest[0].weights[1];
      spec.quantization = { dtype: 'uint8', scale: 1, min: 0 };
      // The uint8 bias takes 3 bytes instead of 12: shrink the shard to match so the dtype check is reached.
    });
    const bytes = base.weights.get('group1-shard1of1.bin')!;
    const shorter = new Uint8Array(bytes.length - 9);
    quantized.weights.set('group1-shard1of1.bin', shorter);
    rejects(quantized, 'invalid_model', 'uint8-quantized', 'only float32');
  });

  it('unsupported options: channels_first, causal padding, groups', async () => {
    const conv = await artifactsOf([L.conv1d({ inputShape: [6, 2], filters: 2, kernelSize: 2, name: 'c' })]);
    const edit = (change: (config: any) => void) => {
      const json = structuredClone(conv.modelJson) as any;
      change(json.modelTopology.config.layers[0].config);
      return { modelJson: json, weights: conv.weights };
    };
    rejects(
      edit((c) => (c.data_format = 'channels_first')),
      'unsupported_layer',
      'channels_first',
    );
    rejects(
      edit((c) => (c.padding = 'causal')),
      'unsupported_layer',
      'causal',
    );
    rejects(
      edit((c) => (c.groups = 2)),
      'unsupported_layer',
      'groups',
    );
  });

  it('shapes that do not fit', () => {
    rejects(
      variant((j) => (j.modelTopology.config.layers[0].config.batch_input_shape = [null, null])),
      'invalid_model',
      'variable (null) axes',
    );
    rejects(
      variant((j) => (j.modelTopology.config.layers[0].config.batch_input_shape = [null, 0])),
      'invalid_model',
      'positive size or null',
    );
    rejects(
      variant((j) =>
        j.modelTopology.config.layers.splice(1, 0, {
          class_name: 'Reshape',
          config: { name: 'r', target_shape: [2, 2] },
        }),
      ),
      'invalid_model',
      'cannot reshape',
    );
  });

  it('the pre-1.0 converter layout: no format keys, a shard named without .bin', () => {
    const json = structuredClone(base.modelJson) as Record<string, any>;
    for (const key of ['format', 'generatedBy', 'convertedBy']) delete json[key];
    const [[path, bytes]] = [...base.weights];
    json.weightsManifest[0].paths = ['group1-shard1of1'];
    assert.ok(path.endsWith('.bin'));
    const model = parseModel({ modelJson: json, weights: new Map([['group1-shard1of1', bytes]]) });
    assert.deepEqual(
      model.parameters.map((p) => p.name),
      parseModel(base).parameters.map((p) => p.name),
    );
  });

  it('models with several inputs and outputs, listed by name in the model order', async () => {
    const left = tf.input({ shape: [2], name: 'left' });
    const right = tf.input({ shape: [3], name: 'right' });
    const joined = L.concatenate({ name: 'joined' }).apply([left, right]) as tf.SymbolicTensor;
    const a = L.dense({ units: 1, name: 'a' }).apply(joined) as tf.SymbolicTensor;
    const b = L.dense({ units: 4, activation: 'softmax', name: 'b' }).apply(joined) as tf.SymbolicTensor;
    const built = tf.model({ inputs: [left, right], outputs: [b, a] });
    randomizeWeights(built, 1);
    const model = parseModel(await toArtifacts(built));
    built.dispose();
    assert.deepEqual(
      model.inputs.map((i) => [i.name, i.shape]),
      [
        ['left', [null, 2]],
        ['right', [null, 3]],
      ],
    );
    assert.deepEqual(
      model.outputs.map((o) => [o.name, o.shape, o.finalActivation.activation]),
      [
        ['b', [null, 4], 'softmax'],
        ['a', [null, 1], 'linear'],
      ],
    );
  });
});

describe('inspectModel', () => {
  it('summarizes parameters, shapes and layers', () => {
    const summary = inspectModel(base);
    assert.equal(summary.numParams, 29);
    assert.deepEqual(summary.inputShape, [null, 4]);
    assert.deepEqual(summary.outputShape, [null, 2]);
    assert.deepEqual(
      summary.layers.map((l) => l.className),
      ['InputLayer', 'Dense', 'BatchNormalization', 'Dense'],
    );
    assert.equal(summary.parameters[5].offset, 27);
  });
});
