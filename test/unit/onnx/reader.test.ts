/**
 * The ONNX reader on hostile and malformed input (every length checked against the bytes present, bounded nesting,
 * no allocation from a declared size alone), content detection, and refusals that name the op, its node and the
 * supported list.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEngineError } from '../../../src/contract/errors.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import { importOnnx } from '../../../src/contract/onnx/import.js';
import { looksLikeOnnx, readOnnxModel } from '../../../src/contract/onnx/onnx-proto.js';
import { MAX_DEPTH, ProtoReader } from '../../../src/contract/onnx/protobuf.js';
import { loadOnnxCase } from '../../helpers/onnx-golden.js';

// A protobuf writer for hand-made models.
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const key = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const bytes = (field: number, body: number[] | Uint8Array) => [
  ...key(field, 2),
  ...varint(body.length),
  ...body,
];
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);
const msg = (field: number, ...parts: number[][]) => bytes(field, parts.flat());

const valueInfo = (field: number, name: string, dims: number[]) =>
  msg(field, str(1, name), msg(2, msg(1, int(1, 1), msg(2, ...dims.map((d) => msg(1, int(1, d)))))));
const node = (op: string, name: string, inputs: string[], outputs: string[], ...attrs: number[][]) =>
  msg(
    1,
    ...inputs.map((i) => str(1, i)),
    ...outputs.map((o) => str(2, o)),
    str(3, name),
    str(4, op),
    ...attrs,
  );
const floatTensor = (name: string, dims: number[], values: number[]) => {
  const raw = new Uint8Array(new Float32Array(values).buffer);
  return [...dims.map((d) => int(1, d)).flat(), ...int(2, 1), ...str(8, name), ...bytes(9, raw)];
};
/** A ModelProto at opset 13 with `nodes`, `initializers`, input x [2, 3] and output y. */
const model = (nodes: number[][], initializers: number[][] = [], outDims = [2, 3]) =>
  new Uint8Array([
    ...int(1, 8),
    ...msg(8, int(2, 13)),
    ...msg(
      7,
      ...nodes,
      ...initializers.map((t) => bytes(5, t)),
      valueInfo(11, 'x', [2, 3]),
      valueInfo(12, 'y', outDims),
    ),
  ]);

function invalid(f: () => unknown, pattern: RegExp, code = 'invalid_model') {
  const started = performance.now();
  assert.throws(f, (e: unknown) => {
    assert.ok(isEngineError(e), String(e));
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
  assert.ok(performance.now() - started < 1000, 'refused quickly');
}

describe('ONNX reader: hostile input', () => {
  const valid = loadOnnxCase('onnx_mlp').onnx;

  it('reads a valid PyTorch export', () => {
    const m = readOnnxModel(valid);
    assert.equal(m.producer, 'pytorch');
    assert.equal(m.opset, 13);
    assert.ok(m.graph.nodes.some((n) => n.opType === 'Gemm'));
  });

  it('refuses every truncation of a valid file with invalid_model', () => {
    for (let cut = 1; cut < valid.length; cut += Math.max(1, Math.floor(valid.length / 400))) {
      assert.throws(
        () => importOnnx(valid.subarray(0, cut)),
        (e: unknown) => isEngineError(e) && e.code === 'invalid_model',
        `cut at ${cut}`,
      );
    }
  });

  it('refuses a length prefix larger than the bytes that remain', () => {
    const lying = new Uint8Array([...int(1, 8), ...key(7, 2), ...varint(2 ** 40), 1, 2, 3]);
    invalid(() => readOnnxModel(lying), /declares 1099511627776 bytes but only 3 remain/);
    const nested = model([[...key(1, 2), ...varint(1000), ...str(4, 'Relu')]]);
    invalid(() => readOnnxModel(nested), /declares 1000 bytes/);
  });

  it('refuses a tensor whose declared size its data does not hold, before allocating it', () => {
    const huge = [
      ...int(1, 100000),
      ...int(1, 100000),
      ...int(2, 1),
      ...str(8, 'w'),
      ...bytes(9, [0, 0, 0, 0]),
    ];
    invalid(() => readOnnxModel(model([], [huge])), /more than 268435456 elements/);
    const short = [...int(1, 1000), ...int(1, 1000), ...int(2, 1), ...str(8, 'w'), ...bytes(9, [0, 0, 0, 0])];
    invalid(() => readOnnxModel(model([], [short])), /needs 4000000 bytes of raw data, has 4/);
    const listed = [...int(1, 3), ...int(2, 7), ...str(8, 'shape'), ...int(7, 1)];
    invalid(() => readOnnxModel(model([], [listed])), /holds 1 values/);
  });

  it('refuses external data, sparse initializers, groups and overlong varints', () => {
    const external = [...int(1, 2), ...int(2, 1), ...str(8, 'w'), ...int(14, 1)];
    invalid(() => readOnnxModel(model([], [external])), /external file/);
    invalid(() => readOnnxModel(new Uint8Array([...int(1, 8), ...msg(7, msg(15))])), /sparse initializers/);
    invalid(() => readOnnxModel(new Uint8Array([...int(1, 8), ...key(9, 3)])), /wire type 3/);
    invalid(
      () => readOnnxModel(new Uint8Array([0x08, ...new Array(11).fill(0xff), 1])),
      /varint longer than 10/,
    );
    invalid(() => readOnnxModel(new Uint8Array([...int(1, 8)])), /no graph/);
  });

  it('caps message nesting, and skips deep unknown fields without recursing', () => {
    let deep: number[] = [];
    for (let i = 0; i < 40; i++) deep = bytes(1, deep);
    const r = new ProtoReader(new Uint8Array(deep));
    assert.throws(
      () => {
        let cur = r;
        for (;;) {
          if (!cur.next()) break;
          cur = cur.message();
        }
      },
      new RegExp(`nest more than ${MAX_DEPTH} levels`),
    );
    // 100 000 levels of an unknown ModelProto field: skipped as one length-delimited run.
    const levels = 100_000;
    const chunks: number[][] = [];
    let size = 0;
    for (let i = 0; i < levels; i++) {
      const prefix = [...key(1, 2), ...varint(size)];
      chunks.push(prefix);
      size += prefix.length;
    }
    const unknown = new Uint8Array([
      ...int(1, 8),
      ...key(19, 2),
      ...varint(size),
      ...chunks.reverse().flat(),
    ]);
    invalid(() => readOnnxModel(unknown), /no graph/);
  });

  it('tells ONNX from model.json by content, not by name', () => {
    assert.ok(looksLikeOnnx(valid));
    assert.ok(!looksLikeOnnx(new TextEncoder().encode('{"modelTopology": {}}')));
    assert.ok(!looksLikeOnnx(new TextEncoder().encode('  {}')));
    assert.equal(parseModel({ modelJson: valid, weights: new Map() }).parameters.length, 8);
    invalid(
      () => parseModel({ modelJson: new TextEncoder().encode('not json'), weights: new Map() }),
      /not valid JSON/,
    );
  });
});

describe('ONNX import: refusals', () => {
  it('names every unsupported op type with its node and position, and lists the supported ops', () => {
    const m = model([
      node('Relu', 'act', ['x'], ['h']),
      node('GRU', 'rnn', ['h'], ['g']),
      node('Slice', '', ['g'], ['y']),
    ]);
    invalid(
      () => parseModel({ modelJson: m, weights: new Map() }),
      /ONNX op types GRU, Slice are not supported: GRU at node 1 \("rnn"\); Slice at node 2 \("Slice"\)\. Supported: Add, .*Conv, .*Unsqueeze\./,
      'unsupported_layer',
    );
  });

  it('refuses an unsupported use of a supported op with its node', () => {
    const m = model(
      [node('Transpose', 'swap', ['x'], ['y'], msg(5, str(1, 'perm'), int(20, 7), int(8, 1), int(8, 0)))],
      [],
      [3, 2],
    );
    invalid(
      () => parseModel({ modelJson: m, weights: new Map() }),
      /node 0 \("swap", Transpose\): Transpose moving the batch axis/,
      'unsupported_layer',
    );
  });

  it('imports a hand-made graph: a Gemm and a final Softmax the loss can fuse', () => {
    const w = floatTensor('w', [3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const b = floatTensor('b', [3], [0.1, 0.2, 0.3]);
    const m = model(
      [
        node('Gemm', 'fc', ['x', 'w', 'b'], ['z']),
        node('Softmax', 'sm', ['z'], ['y'], msg(5, str(1, 'axis'), int(20, 2), int(3, 1))),
      ],
      [w, b],
    );
    const parsed = parseModel({ modelJson: m, weights: new Map() });
    assert.deepEqual(
      parsed.parameters.map((p) => [p.name, p.layer, p.shape, p.offset]),
      [
        ['w', 'fc', [3, 3], 0],
        ['b', 'fc', [3], 9],
      ],
    );
    assert.deepEqual(parsed.inputs, [{ name: 'x', shape: [null, 3], dtype: 'float32' }]);
    assert.deepEqual(parsed.outputs[0].finalActivation, { activation: 'softmax', layer: 'sm' });
    assert.deepEqual(parsed.outputs[0].shape, [null, 3]);
  });

  it('refuses a graph whose input has variable axes after the batch', () => {
    const m = new Uint8Array([
      ...int(1, 8),
      ...msg(8, int(2, 13)),
      ...msg(
        7,
        node('Relu', 'r', ['x'], ['y']),
        msg(
          11,
          str(1, 'x'),
          msg(2, msg(1, int(1, 1), msg(2, msg(1, str(2, 'batch')), msg(1, str(2, 'len'))))),
        ),
        valueInfo(12, 'y', [2, 3]),
      ),
    ]);
    invalid(() => parseModel({ modelJson: m, weights: new Map() }), /must have a fixed size/);
  });
});
