import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { EngineError } from '../../../src/contract/errors.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { buildForward } from '../../../src/engine/model/forward.js';
import { editedGoldenCase as edited, loadGoldenCase, matvec, relativeError } from '../../helpers/golden.js';
import { randomizeWeights, toArtifacts } from './helpers.js';

/**
 * SimpleRNN, GRU (reset_after true and false), LSTM, Bidirectional, TimeDistributed and Masking. The golden cases
 * (rnn_*) are also run by test/unit/engine/golden.test.ts (Hessian, GGN, HVP, diagonal on cpu and wasm); here:
 * their GGN-vector products, the forward pass against TF.js Layers for every option TF.js has, what TF.js cannot
 * load (a Bidirectional backward_layer of its own) against finite differences, the manifest names Keras writes,
 * variable-length sequences, and every refusal.
 */
const TOLERANCE = 1e-4;
const CASES = [
  'rnn_simple_rnn_seq',
  'rnn_gru_reset_after',
  'rnn_gru_reset_before',
  'rnn_lstm_backwards',
  'rnn_bidirectional_sum_concat',
  'rnn_bidirectional_ave_mul',
  'rnn_time_distributed',
  'rnn_masking_trailing',
  'rnn_masking_bidirectional',
  'rnn_embedding_mask_zero',
];

type Weights = [string, number[]][];

/** A Sequential model of `layers` (Keras configs) with weights of the given manifest names and shapes. */
function sequential(
  layers: { class_name: string; config: Record<string, unknown> }[],
  inputShape: (number | null)[],
  weights: Weights = [],
  seed = 1,
) {
  const sizes = weights.map(([, shape]) => shape.reduce((a, b) => a * b, 1));
  const values = Float32Array.from({ length: sizes.reduce((a, b) => a + b, 0) }, (_, i) =>
    Math.sin(seed * 7.3 + i * 1.7),
  );
  const [first, ...rest] = layers;
  return {
    modelJson: {
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'sequential',
          layers: [
            { ...first, config: { ...first.config, batch_input_shape: [null, ...inputShape] } },
            ...rest,
          ],
        },
      },
      weightsManifest: [
        {
          paths: ['w.bin'],
          weights: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })),
        },
      ],
    },
    weights: new Map([['w.bin', new Uint8Array(values.buffer)]]),
  };
}

const rnn = (className: string, name: string, config: Record<string, unknown> = {}) => ({
  class_name: className,
  config: { name, units: 2, ...config },
});

/** Weight names and shapes of a recurrent layer under `scope` ('gru', 'gru/gru_cell', ...). */
function cellWeights(scope: string, gates: number, features: number, units: number, bias: number[] | null) {
  const w: Weights = [
    [`${scope}/kernel`, [features, gates * units]],
    [`${scope}/recurrent_kernel`, [units, gates * units]],
  ];
  if (bias) w.push([`${scope}/bias`, bias]);
  return w;
}

function refuses(artifacts: ReturnType<typeof sequential>, ...patterns: RegExp[]) {
  assert.throws(
    () => parseModel(artifacts),
    (e: unknown) => {
      assert.ok(e instanceof EngineError, String(e));
      assert.equal(e.code, 'unsupported_layer', e.message);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

function runForward(artifacts: Parameters<typeof parseModel>[0], x: tf.Tensor): Float32Array {
  const model = parseModel(artifacts);
  return tf.tidy(() => {
    const params = Object.fromEntries(model.weights.map((w) => [w.name, tf.tensor(w.values, w.shape)]));
    return buildForward(model).forward(params, x).logits.dataSync() as Float32Array;
  });
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`recurrent layers on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const name of CASES) {
      it(`${name}: GGN-vector products match float64 to 1e-4`, async () => {
        const c = loadGoldenCase(name);
        const rng = createRng(11);
        const v = rng.gaussianVector(c.numParams);
        const r = await compute(
          { ...c.request, method: { name: 'ggnvp', vectors: [Array.from(v)] } },
          { backend },
        );
        const err = relativeError(r.arrays['ggnvp.npy'].data, matvec(c.ggn, v));
        assert.ok(err <= TOLERANCE, `ggnvp relative error ${err.toExponential(2)}`);
      });
    }

    it('Bidirectional with a backward_layer of its own (TF.js ignores it): Hessian agrees with finite differences', async () => {
      // rnn_bidirectional_ave_mul's second Bidirectional with a sigmoid backward SimpleRNN; the weights stay.
      const c = edited('rnn_bidirectional_ave_mul', (layers) => {
        const layer = layers[1].config.layer;
        layers[1].config.backward_layer = {
          class_name: 'SimpleRNN',
          config: { ...layer.config, go_backwards: true, activation: 'sigmoid' },
        };
      });
      const h = await compute({ ...c.request, method: { name: 'hessian' } }, { backend });
      const fd = await compute({ ...c.request, method: { name: 'finite_difference' } }, { backend });
      const err = relativeError(fd.arrays['hessian.npy'].data, h.arrays['hessian.npy'].data);
      assert.ok(err <= 2e-2, `finite differences vs hessian ${err.toExponential(2)}`);
      assert.ok(relativeError(h.arrays['hessian.npy'].data, c.hessian) > 1e-3, 'the backward layer is used');
    });
  });
}

describe('recurrent layers follow Keras and TF.js semantics', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('match TF.js Layers for every option it has (go_backwards, return_sequences, no bias, masks, merge modes)', async () => {
    const x = tf.tensor(
      Float32Array.from({ length: 3 * 5 * 4 }, (_, i) => Math.cos(i * 0.73) * 1.2),
      [3, 5, 4],
    );
    // Trailing padding: lengths 3, 5, 1.
    const lengths = [3, 5, 1];
    const padded = tf.mul(
      x,
      tf.tensor(
        Float32Array.from({ length: 15 }, (_, i) => (i % 5 < lengths[Math.floor(i / 5)] ? 1 : 0)),
        [3, 5, 1],
      ),
    );
    const variants: [string, () => tf.LayersModel, tf.Tensor][] = [];
    for (const goBackwards of [false, true]) {
      for (const returnSequences of [false, true]) {
        const opts = { goBackwards, returnSequences };
        const tag = `go_backwards ${goBackwards}, return_sequences ${returnSequences}`;
        const seq =
          (layer: tf.layers.Layer, masked = false) =>
          () => {
            const m = tf.sequential();
            if (masked) m.add(tf.layers.masking({ maskValue: 0, inputShape: [5, 4] }));
            m.add(layer);
            if (returnSequences) m.add(tf.layers.flatten());
            return m;
          };
        variants.push(
          [
            `SimpleRNN ${tag}`,
            seq(tf.layers.simpleRNN({ units: 3, inputShape: [5, 4], activation: 'softsign', ...opts })),
            x,
          ],
          [
            `GRU ${tag}`,
            seq(tf.layers.gru({ units: 3, inputShape: [5, 4], recurrentActivation: 'sigmoid', ...opts })),
            x,
          ],
          [
            `LSTM ${tag}`,
            seq(tf.layers.lstm({ units: 3, inputShape: [5, 4], useBias: !goBackwards, ...opts })),
            x,
          ],
          [`masked GRU ${tag}`, seq(tf.layers.gru({ units: 3, ...opts }), true), padded],
          [`masked LSTM ${tag}`, seq(tf.layers.lstm({ units: 2, ...opts }), true), padded],
        );
      }
    }
    for (const mergeMode of ['concat', 'sum', 'mul', 'ave'] as const) {
      variants.push([
        `Bidirectional ${mergeMode}`,
        () => {
          const m = tf.sequential();
          const layer = tf.layers.lstm({ units: 2, returnSequences: true }) as tf.RNN;
          m.add(tf.layers.bidirectional({ layer, mergeMode, inputShape: [5, 4] }));
          m.add(tf.layers.flatten());
          return m;
        },
        x,
      ]);
    }
    variants.push([
      'TimeDistributed(Dense) -> SimpleRNN',
      () => {
        const m = tf.sequential();
        m.add(
          tf.layers.timeDistributed({
            layer: tf.layers.dense({ units: 3, activation: 'elu' }),
            inputShape: [5, 4],
          }),
        );
        m.add(tf.layers.simpleRNN({ units: 2 }));
        return m;
      },
      x,
    ]);
    for (const [label, build, input] of variants) {
      const model = build();
      randomizeWeights(model, 5);
      const want = (model.predict(input) as tf.Tensor).dataSync();
      const got = runForward(await toArtifacts(model), input);
      assert.equal(got.length, want.length, label);
      assert.ok(relativeError(got, want) <= 1e-5, `${label}: ${relativeError(got, want).toExponential(2)}`);
      model.dispose();
    }
  });

  it('GRU reset_after (Keras 2+ default, which TF.js refuses) is the Keras formula', () => {
    // units 1, features 1: z = σ(x·wz + bz + h·uz + rz), r likewise, h~ = tanh(x·wh + bh + r·(h·uh + rh)).
    const [wz, wr, wh] = [0.5, -0.7, 1.1];
    const [uz, ur, uh] = [0.3, 0.8, -0.6];
    const [bz, br, bh, rz, rr, rh] = [0.1, -0.2, 0.05, 0.3, 0.15, -0.25];
    const artifacts = sequential(
      [rnn('GRU', 'gru', { units: 1 })],
      [3, 1],
      cellWeights('gru', 3, 1, 1, [2, 3]),
    );
    const values = Float32Array.from([wz, wr, wh, uz, ur, uh, bz, br, bh, rz, rr, rh]);
    artifacts.weights.set('w.bin', new Uint8Array(values.buffer));
    const xs = [0.4, -1.3, 0.9];
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    let h = 0;
    for (const xt of xs) {
      const z = sigmoid(xt * wz + bz + h * uz + rz);
      const r = sigmoid(xt * wr + br + h * ur + rr);
      const candidate = Math.tanh(xt * wh + bh + r * (h * uh + rh));
      h = z * h + (1 - z) * candidate;
    }
    const got = runForward(artifacts, tf.tensor(xs, [1, 3, 1]));
    assert.ok(Math.abs(got[0] - h) < 1e-6, `${got[0]} vs ${h}`);
  });

  it('Masking feeding a non-recurrent layer multiplies x by the step mask, as Keras does', () => {
    const artifacts = sequential(
      [
        { class_name: 'Masking', config: { name: 'masking', mask_value: 2 } },
        { class_name: 'Flatten', config: { name: 'flatten' } },
        { class_name: 'Dense', config: { name: 'dense', units: 1, use_bias: false } },
      ],
      [3, 2],
      [['dense/kernel', [6, 1]]],
    );
    const kernel = Float32Array.from({ length: 6 }, (_, i) => Math.sin(1 * 7.3 + i * 1.7));
    // Step 1 is all 2s (masked, so zeroed); step 2 has one 2 (kept).
    const x = [1, -1, 2, 2, 2, 0.5];
    const want = [1, -1, 0, 0, 2, 0.5].reduce((s, v, i) => s + v * kernel[i], 0);
    const got = runForward(artifacts, tf.tensor(x, [1, 3, 2]));
    assert.ok(Math.abs(got[0] - want) < 1e-6, `${got[0]} vs ${want}`);
  });

  it('reads the time length from the batch: a null time axis gives the golden case', async () => {
    const c = edited('rnn_masking_trailing', (layers) => {
      layers[0].config.batch_input_shape = [null, null, 2];
    });
    const h = await compute({ ...c.request, method: { name: 'hessian' } }, { backend: 'cpu' });
    const err = relativeError(h.arrays['hessian.npy'].data, c.hessian);
    assert.ok(err <= TOLERANCE, `hessian relative error ${err.toExponential(2)}`);
  });
});

describe('recurrent layer weights as Keras and TF.js name them', () => {
  it('reads Keras 2 cell-scoped names, Keras 3 model prefixes, and names θ layer/weight', () => {
    for (const [scope, label] of [
      ['gru', 'TF.js'],
      ['gru/gru_cell', 'Keras 2'],
      ['sequential/gru/gru_cell_3', 'Keras 3'],
      ['sequential/gru', 'model prefix'],
    ]) {
      const model = parseModel(
        sequential([rnn('GRU', 'gru', { reset_after: true })], [4, 3], cellWeights(scope, 3, 3, 2, [2, 6])),
      );
      assert.deepEqual(
        model.parameters.map((p) => [p.name, p.shape]),
        [
          ['gru/kernel', [3, 6]],
          ['gru/recurrent_kernel', [2, 6]],
          ['gru/bias', [2, 6]],
        ],
        label,
      );
    }
  });

  it('names Bidirectional weights <layer>/forward_<rnn>/… and <layer>/backward_<rnn>/…, Keras 2 cells and Keras 3 sub-layer names alike', () => {
    const keras2 = sequential(
      [{ class_name: 'Bidirectional', config: { name: 'bidirectional', layer: rnn('LSTM', 'lstm') } }],
      [4, 3],
      [
        ...cellWeights('bidirectional/forward_lstm/lstm_cell_1', 4, 3, 2, [8]),
        ...cellWeights('bidirectional/backward_lstm/lstm_cell_2', 4, 3, 2, [8]),
      ],
    );
    // Keras 3 writes the renamed sub-layers, backward_layer included.
    const keras3 = sequential(
      [
        {
          class_name: 'Bidirectional',
          config: {
            name: 'bidirectional',
            layer: rnn('LSTM', 'forward_lstm'),
            backward_layer: rnn('LSTM', 'backward_lstm', { go_backwards: true }),
          },
        },
      ],
      [4, 3],
      [
        ...cellWeights('sequential/bidirectional/forward_lstm/lstm_cell', 4, 3, 2, [8]),
        ...cellWeights('sequential/bidirectional/backward_lstm/lstm_cell', 4, 3, 2, [8]),
      ],
    );
    for (const artifacts of [keras2, keras3]) {
      const model = parseModel(artifacts);
      assert.deepEqual(
        model.parameters.map((p) => p.name),
        [
          'bidirectional/forward_lstm/kernel',
          'bidirectional/forward_lstm/recurrent_kernel',
          'bidirectional/forward_lstm/bias',
          'bidirectional/backward_lstm/kernel',
          'bidirectional/backward_lstm/recurrent_kernel',
          'bidirectional/backward_lstm/bias',
        ],
      );
      assert.deepEqual(model.layers[model.layers.length - 1].outputShape, [4]);
    }
  });

  it('refuses a weight name that several manifest entries match', () => {
    const artifacts = sequential(
      [rnn('SimpleRNN', 'simple_rnn')],
      [4, 3],
      [...cellWeights('simple_rnn/simple_rnn_cell', 1, 3, 2, [2]), ['simple_rnn/other_cell/kernel', [3, 2]]],
    );
    assert.throws(
      () => parseModel(artifacts),
      (e: unknown) =>
        e instanceof EngineError &&
        e.code === 'invalid_model' &&
        /simple_rnn\/kernel.*several.*simple_rnn\/simple_rnn_cell\/kernel.*simple_rnn\/other_cell\/kernel/.test(
          e.message,
        ),
    );
  });

  it("declares GRU biases by reset_after, and TimeDistributed weights as the wrapper's", () => {
    const before = parseModel(
      sequential([rnn('GRU', 'gru', { reset_after: false })], [4, 3], cellWeights('gru', 3, 3, 2, [6])),
    );
    assert.deepEqual(before.parameters[2].shape, [6]);
    const td = parseModel(
      sequential(
        [
          {
            class_name: 'TimeDistributed',
            config: {
              name: 'time_distributed',
              layer: { class_name: 'Dense', config: { name: 'dense', units: 2 } },
            },
          },
        ],
        [4, 3],
        [
          ['time_distributed/dense/kernel', [3, 2]],
          ['time_distributed/dense/bias', [2]],
        ],
      ),
    );
    assert.deepEqual(
      td.parameters.map((p) => p.name),
      ['time_distributed/kernel', 'time_distributed/bias'],
    );
    assert.deepEqual(td.layers[td.layers.length - 1].outputShape, [4, 2]);
  });
});

describe('recurrent layer refusals name the layer and the option', () => {
  const gruWeights = cellWeights('gru', 3, 3, 2, [2, 6]);

  for (const [option, pattern] of [
    ['stateful', /stateful=true/],
    ['time_major', /time_major=true/],
  ] as const) {
    it(`refuses ${option}: true`, () => {
      refuses(
        sequential([rnn('GRU', 'gru', { [option]: true })], [4, 3], gruWeights),
        /"gru" \(GRU\)/,
        pattern,
      );
    });
  }

  it('refuses Bidirectional merge_mode null, and a wrapped layer that is not recurrent', () => {
    refuses(
      sequential(
        [{ class_name: 'Bidirectional', config: { name: 'bi', merge_mode: null, layer: rnn('GRU', 'gru') } }],
        [4, 3],
      ),
      /"bi" \(Bidirectional\)/,
      /merge_mode=null/,
    );
    refuses(
      sequential(
        [
          {
            class_name: 'Bidirectional',
            config: { name: 'bi', layer: { class_name: 'Dense', config: { units: 2 } } },
          },
        ],
        [4, 3],
      ),
      /Dense/,
      /not a recurrent layer/,
    );
  });

  it('takes initial states as extra inputs and final states as extra outputs; refuses ones that do not fit', () => {
    /** x [4, 3] and states `states` → GRU(2) (return_state) → output `output` of the model. */
    const graph = (stateShapes: number[][], output: [string, number, number] = ['gru', 0, 0]) => ({
      modelJson: {
        modelTopology: {
          class_name: 'Functional',
          config: {
            name: 'model',
            layers: [
              {
                class_name: 'InputLayer',
                name: 'x',
                config: { name: 'x', batch_input_shape: [null, 4, 3] },
                inbound_nodes: [],
              },
              ...stateShapes.map((shape, i) => ({
                class_name: 'InputLayer',
                name: `h${i}`,
                config: { name: `h${i}`, batch_input_shape: [null, ...shape] },
                inbound_nodes: [],
              })),
              {
                ...rnn('GRU', 'gru', { return_state: true }),
                name: 'gru',
                inbound_nodes: [[['x', 0, 0, {}], ...stateShapes.map((_, i) => [`h${i}`, 0, 0, {}])]],
              },
              {
                class_name: 'Add',
                name: 'add',
                config: { name: 'add' },
                inbound_nodes: [
                  [
                    ['gru', 0, 0, {}],
                    ['gru', 0, 1, {}],
                  ],
                ],
              },
            ],
            input_layers: [['x', 0, 0], ...stateShapes.map((_, i) => [`h${i}`, 0, 0])],
            output_layers: [output],
          },
        },
        weightsManifest: [
          {
            paths: ['w.bin'],
            weights: gruWeights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })),
          },
        ],
      },
      weights: new Map([['w.bin', new Uint8Array(4 * (18 + 12 + 12))]]),
    });
    const model = parseModel(graph([[2]]));
    const gru = model.layers.find((l) => l.name === 'gru')!;
    assert.ok(gru.kind === 'rnn' && gru.initialStates === 1 && gru.cell.returnState);
    assert.deepEqual(gru.extraOutputShapes, [[2]]);
    assert.deepEqual(model.layers.find((l) => l.name === 'add')!.inbound, ['gru', 'gru:1']);

    const refused = (artifacts: ReturnType<typeof graph>, code: string, pattern: RegExp) =>
      assert.throws(
        () => parseModel(artifacts),
        (e: unknown) => e instanceof EngineError && e.code === code && pattern.test(e.message),
      );
    refused(
      graph([[3]]),
      'invalid_model',
      /"gru".*initial state 0 has shape \[null, 3\]; expected \[null, 2\]/,
    );
    refused(graph([[2], [2]]), 'invalid_model', /"gru".*2 initial state\(s\); it takes 1/);
    refused(graph([[2]], ['gru', 0, 1]), 'unsupported_layer', /output 1 of "gru"/);
  });

  it('refuses a mask that Keras would use elsewhere: at a model output, in GlobalAveragePooling1D', () => {
    const masking = { class_name: 'Masking', config: { name: 'masking', mask_value: 0 } };
    refuses(
      sequential([masking, rnn('GRU', 'gru', { return_sequences: true })], [4, 3], gruWeights),
      /"gru" \(GRU\)/,
      /"masking"/,
      /model output/,
    );
    refuses(
      sequential([masking, { class_name: 'GlobalAveragePooling1D', config: { name: 'gap' } }], [4, 3]),
      /"gap" \(GlobalAveragePooling1D\)/,
      /"masking"/,
    );
    refuses(
      sequential(
        [
          {
            class_name: 'Embedding',
            config: { name: 'embedding', input_dim: 5, output_dim: 3, mask_zero: true },
          },
          { class_name: 'GlobalAveragePooling1D', config: { name: 'gap' } },
        ],
        [4],
        [['embedding/embeddings', [5, 3]]],
      ),
      /"gap"/,
      /"embedding"/,
    );
  });

  it('refuses TimeDistributed around a Masking layer, and names the wrapper for an unsupported inner layer', () => {
    refuses(
      sequential(
        [
          {
            class_name: 'TimeDistributed',
            config: { name: 'td', layer: { class_name: 'Masking', config: { name: 'm' } } },
          },
        ],
        [4, 3],
      ),
      /"td" \(TimeDistributed\)/,
      /Masking/,
    );
    refuses(
      sequential(
        [
          {
            class_name: 'TimeDistributed',
            config: { name: 'td', layer: { class_name: 'Attention', config: { name: 'att' } } },
          },
        ],
        [4, 3],
      ),
      /TimeDistributed layer "td"/,
      /Attention/,
    );
  });

  it('lists the recurrent layers among the supported ones', () => {
    try {
      parseModel(sequential([{ class_name: 'ConvLSTM2D', config: { name: 'c' } }], [4, 3, 3, 1]));
      assert.fail('accepted ConvLSTM2D');
    } catch (e) {
      assert.ok(e instanceof EngineError && e.code === 'unsupported_layer');
      for (const name of ['SimpleRNN', 'GRU', 'LSTM', 'Bidirectional', 'TimeDistributed', 'Masking']) {
        assert.match(e.message, new RegExp(`\\b${name}\\b`));
      }
    }
  });
});
