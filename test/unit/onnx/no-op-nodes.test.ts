/**
 * Identity and Dropout (inference) are no-ops: a graph with them computes exactly the curvature of the same graph
 * without them, and Dropout in training mode is refused. PyTorch's exporter drops both in eval mode, so these graphs
 * are written here with a small protobuf encoder (field numbers from onnx.proto).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEngineError } from '../../../src/contract/errors.js';
import { compute } from '../../../src/engine/compute.js';

const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const field = (num: number, wire: number) => varint((num << 3) | wire);
const bytes = (num: number, data: Uint8Array | number[]) => [
  ...field(num, 2),
  ...varint(data.length),
  ...data,
];
const str = (num: number, s: string) => bytes(num, [...new TextEncoder().encode(s)]);
const int = (num: number, n: number) => [...field(num, 0), ...varint(n)];
const u8 = (parts: number[][]) => new Uint8Array(parts.flat());

/** TensorProto: float data, raw little-endian. */
const tensor = (name: string, dims: number[], values: number[]) =>
  u8([
    ...dims.map((d) => int(1, d)),
    int(2, 1),
    str(8, name),
    bytes(9, [...new Uint8Array(Float32Array.from(values).buffer)]),
  ]);
/** ValueInfoProto of a float tensor; a string dim is symbolic. */
const valueInfo = (name: string, dims: (number | string)[]) => {
  const shape = u8(dims.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d))));
  const tensorType = u8([int(1, 1), bytes(2, shape)]);
  return u8([str(1, name), bytes(2, bytes(1, tensorType))]);
};
const node = (op: string, inputs: string[], outputs: string[], attributes: Uint8Array[] = []) =>
  u8([
    ...inputs.map((i) => str(1, i)),
    ...outputs.map((o) => str(2, o)),
    str(3, `${op}_${outputs[0]}`),
    str(4, op),
    ...attributes.map((a) => bytes(5, a)),
  ]);
const intAttribute = (name: string, value: number) => u8([str(1, name), int(3, value), int(20, 2)]);

/** x [N, 3] → (no-op nodes) → Gemm(W [2, 3], b [2], transB) → y [N, 2]. */
function model(noOps: Uint8Array[], gemmInput: string, extraInitializers: Uint8Array[] = []): Uint8Array {
  const graph = u8([
    ...noOps.map((n) => bytes(1, n)),
    bytes(1, node('Gemm', [gemmInput, 'W', 'b'], ['y'], [intAttribute('transB', 1)])),
    str(2, 'g'),
    bytes(5, tensor('W', [2, 3], [0.5, -1, 2, 1.5, 0.25, -0.75])),
    bytes(5, tensor('b', [2], [0.1, -0.2])),
    ...extraInitializers.map((t) => bytes(5, t)),
    bytes(11, valueInfo('x', ['batch', 3])),
    bytes(12, valueInfo('y', ['batch', 2])),
  ]);
  const opset = u8([str(1, ''), int(2, 13)]);
  return u8([int(1, 8), str(2, 'test'), bytes(7, graph), bytes(8, opset)]);
}

const batch = {
  inputs: {
    dtype: 'float32' as const,
    shape: [4, 3],
    data: Float32Array.from([1, 2, -1, 0.5, 0, 3, -2, 1, 1, 0, -1, 2]),
  },
  targets: {
    dtype: 'float32' as const,
    shape: [4, 2],
    data: Float32Array.from([1, 0, 0, 1, 2, -1, 0.5, 0.5]),
  },
  loss: { name: 'mean_squared_error' as const },
};

async function hessian(onnx: Uint8Array) {
  const r = await compute(
    { model: { modelJson: onnx, weights: new Map() }, ...batch, method: { name: 'hessian' } },
    { backend: 'cpu' },
  );
  return { data: r.arrays['hessian.npy'].data, names: r.parameters.map((p) => p.name) };
}

describe('ONNX Identity and Dropout', () => {
  it('are no-ops: the Hessian equals that of the graph without them', async () => {
    const plain = await hessian(model([], 'x'));
    const withNoOps = await hessian(
      model([node('Identity', ['x'], ['i']), node('Dropout', ['i', 'ratio'], ['d'])], 'd', [
        tensor('ratio', [], [0.5]),
      ]),
    );
    assert.deepEqual(plain.names, ['W', 'b']);
    assert.deepEqual(withNoOps.names, ['W', 'b']);
    assert.deepEqual(Array.from(withNoOps.data), Array.from(plain.data));
    // Linear model, MSE averaged over N·2 outputs: the Hessian is nonzero (W's block is 2/(N·2)·Σ x xᵀ per row).
    assert.ok(plain.data.some((v) => v !== 0));
  });

  it('refuses Dropout in training mode, naming the node', async () => {
    const training = u8([int(2, 9), str(8, 'training'), bytes(9, [1])]); // BOOL scalar true
    await assert.rejects(
      hessian(model([node('Dropout', ['x', '', 'training'], ['d'])], 'd', [training])),
      (e: unknown) =>
        isEngineError(e) && e.code === 'unsupported_layer' && /Dropout in training mode/.test(e.message),
    );
  });
});
