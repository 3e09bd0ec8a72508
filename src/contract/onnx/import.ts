/**
 * An ONNX graph (as `torch.onnx.export` writes it) → the engine's ParsedModel (tf-free). Every node becomes an
 * `onnx` layer (see `node-op.ts`) except those computable at import (Constant, Shape and the integer arithmetic on
 * shapes, Identity/Dropout), which are folded. Shapes are inferred here with the first axis of the graph input as
 * the batch axis, kept symbolic, so a model exported with a fixed dummy batch runs on any batch size.
 *
 * Parameters θ: every float initializer a computing node reads as data (weights and biases), in initializer order,
 * each in its own shape, named by the initializer; BatchNormalization's running mean and variance are folded
 * constants, never parameters. The exporter replaces an initializer equal to an earlier one by Identity(earlier);
 * each such Identity output is its own parameter (after the initializers, in node order), as in the source model.
 */
import { EngineError } from '../errors.js';
import { sizeOf } from '../ndarray.js';
import type { ParamLayout } from '../types.js';
import type { ActivationName } from '../model/activation-names.js';
import type { LayerSpec, ParsedModel, WeightTensor } from '../model/parsed-model.js';
import { SUPPORTED_ONNX_OPS, type OnnxAttributeValue, type OnnxOperand } from './node-op.js';
import { DataType, readOnnxModel, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './onnx-proto.js';
import { invalidOnnx } from './protobuf.js';

/** The batch size, symbolic in shapes and shape arithmetic. */
const N = 'N' as const;
type Dim = number | typeof N;

/** Most elements per example of any intermediate value (256 MiB of float32). */
const MAX_VALUE_ELEMENTS = 2 ** 26;
/** Most elements of a float constant folded into a layer. */
const MAX_FOLDED_ELEMENTS = 2 ** 22;

type Value =
  /** Computed at run time: `shape` is the full shape, with N first when batched. */
  | { kind: 'layer'; layer: string; shape: Dim[]; batched: boolean; float: boolean }
  /** A float initializer (or the exporter's Identity copy of one). */
  | { kind: 'weight'; name: string; shape: number[]; values: Float32Array }
  /** Known at import; `data` may hold N (shape arithmetic). */
  | { kind: 'const'; shape: number[]; data: Dim[]; float: boolean };

interface WeightEntry {
  name: string;
  shape: number[];
  values: Float32Array;
  /** The first layer reading it; null while unread. */
  layer: string | null;
}

const SUPPORTED = new Set<string>(SUPPORTED_ONNX_OPS);

function supportedList(): string {
  return SUPPORTED_ONNX_OPS.join(', ');
}

const fmt = (shape: readonly Dim[]) => `[${shape.join(', ')}]`;

class Importer {
  readonly layers: LayerSpec[] = [];
  readonly values = new Map<string, Value>();
  readonly weights = new Map<string, WeightEntry>();
  private readonly layerNames = new Set<string>();
  private node!: OnnxNode;
  private position = 0;

  constructor(readonly opset: number) {}

  // ---------------------------------------------------------------------------------------------------------
  // Errors and small readers

  where(): string {
    return `node ${this.position} ("${this.node.name || this.node.opType}", ${this.node.opType})`;
  }

  refuse(message: string): EngineError {
    return new EngineError('unsupported_layer', `ONNX ${this.where()}: ${message}`, {
      opType: this.node.opType,
      node: this.node.name,
      position: this.position,
    });
  }

  invalid(message: string): EngineError {
    return invalidOnnx(`${this.where()}: ${message}`);
  }

  attr(name: string): OnnxAttribute | undefined {
    return this.node.attributes.get(name);
  }

  int(name: string, fallback: number): number {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.i === undefined) throw this.invalid(`attribute ${name} must be an integer`);
    return a.i;
  }

  float(name: string, fallback: number): number {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.f === undefined) throw this.invalid(`attribute ${name} must be a float`);
    return a.f;
  }

  ints(name: string): number[] | undefined {
    const a = this.attr(name);
    if (!a) return undefined;
    if (!a.ints && a.type !== 7) throw this.invalid(`attribute ${name} must be a list of integers`);
    return a.ints ?? [];
  }

  string(name: string, fallback: string): string {
    return this.attr(name)?.s ?? fallback;
  }

  input(i: number): Value | undefined {
    const name = this.node.inputs[i];
    if (name === undefined || name === '') return undefined;
    const v = this.values.get(name);
    if (!v) throw this.invalid(`reads "${name}", which no earlier node, input or initializer produces`);
    return v;
  }

  required(i: number): Value {
    const v = this.input(i);
    if (!v) throw this.invalid(`input ${i} is required`);
    return v;
  }

  /** Integer values of a constant input (axes, shapes, indices); N allowed only when `symbolic`. */
  constInts(v: Value, what: string, symbolic = false): Dim[] {
    if (v.kind === 'const') {
      if (!symbolic && v.data.includes(N)) throw this.refuse(`${what} depends on the batch size`);
      return v.data.map((d) => (typeof d === 'number' ? Math.trunc(d) : d));
    }
    if (v.kind === 'weight') return Array.from(v.values, Math.trunc);
    throw this.refuse(`${what} must be a constant (it is computed from the data)`);
  }

  /** Float values of a constant or weight input read as a constant (an exponent, statistics). */
  constFloats(v: Value, what: string): number[] {
    if (v.kind === 'weight') return Array.from(v.values);
    if (v.kind === 'const' && !v.data.includes(N)) return v.data as number[];
    throw this.refuse(`${what} must be a constant`);
  }

  axis(a: number, rank: number, what = 'axis'): number {
    const axis = a < 0 ? a + rank : a;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
      throw this.invalid(`${what} ${a} is outside a value of rank ${rank}`);
    }
    return axis;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Values

  batched(v: Value | undefined): boolean {
    return v?.kind === 'layer' && v.batched;
  }

  setOutput(v: Value, index = 0): void {
    const name = this.node.outputs[index];
    if (name === undefined || name === '') return;
    if (this.values.has(name)) throw this.invalid(`output "${name}" is produced twice`);
    if (v.kind !== 'weight') {
      const perExample = v.kind === 'layer' && v.batched ? v.shape.slice(1) : v.shape;
      const numeric = perExample.map((d) => (d === N ? 1 : d));
      if (sizeOf(numeric) > MAX_VALUE_ELEMENTS) {
        throw this.invalid(
          `its output ${fmt(v.shape)} has more than ${MAX_VALUE_ELEMENTS} elements per example`,
        );
      }
    }
    this.values.set(name, v);
  }

  /** Turns an input into an operand of the layer being built, recording inbound layers and weight reads. */
  operand(v: Value | undefined, inbound: string[], reader: string): OnnxOperand {
    if (!v) return { kind: 'absent' };
    if (v.kind === 'layer') {
      let index = inbound.indexOf(v.layer);
      if (index < 0) index = inbound.push(v.layer) - 1;
      return { kind: 'layer', index };
    }
    if (v.kind === 'weight') {
      const entry = this.weights.get(v.name)!;
      entry.layer ??= reader;
      return { kind: 'weight', name: v.name };
    }
    if (v.data.includes(N)) throw this.refuse('a constant input depends on the batch size');
    if (v.data.length > MAX_FOLDED_ELEMENTS) throw this.refuse('a constant input is too large to fold');
    return { kind: 'constant', values: v.data as number[], shape: v.shape };
  }

  layerName(): string {
    let base = this.node.name || `${this.node.opType}_${this.position}`;
    if (this.layerNames.has(base)) base = `${base}_${this.position}`;
    let name = base;
    for (let k = 1; this.layerNames.has(name); k++) name = `${base}_${k}`;
    this.layerNames.add(name);
    return name;
  }

  reserveName(name: string): void {
    this.layerNames.add(name);
  }

  /**
   * Adds a layer computing this node from `inputs` (in ONNX input order) with output shape `shape` (full, N first
   * when batched) and returns its value.
   */
  addLayer(
    inputs: (Value | undefined)[],
    shape: Dim[],
    attributes: Record<string, OnnxAttributeValue> = {},
  ): Value {
    const name = this.layerName();
    const inbound: string[] = [];
    const operands = inputs.map((v) => this.operand(v, inbound, name));
    const batched = shape[0] === N;
    if (shape.slice(1).includes(N)) throw this.refuse(`the batch axis would move (output ${fmt(shape)})`);
    const producers = inbound.map((l) => this.layers.find((x) => x.name === l)!);
    const weightNames = operands.flatMap((o) => (o.kind === 'weight' ? [o.name] : []));
    const numeric = (s: Dim[]) => s.filter((d): d is number => d !== N);
    this.layers.push({
      kind: 'onnx',
      opType: this.node.opType,
      operands,
      attributes,
      batched,
      name,
      className: this.node.opType,
      inbound,
      inputShapes: producers.map((p) => p.outputShape),
      outputShape: batched ? numeric(shape.slice(1)) : numeric(shape),
      weightNames: [...new Set(weightNames)],
    });
    return { kind: 'layer', layer: name, shape, batched, float: true };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Broadcasting and folding

  /** Numpy broadcasting of full shapes; N broadcasts only against 1 and N. */
  broadcast(shapes: Dim[][]): Dim[] {
    const rank = Math.max(...shapes.map((s) => s.length));
    const out: Dim[] = [];
    for (let i = 0; i < rank; i++) {
      let dim: Dim = 1;
      for (const s of shapes) {
        const d = s[s.length - rank + i] ?? 1;
        if (d === 1) continue;
        if (dim === 1) dim = d;
        else if (dim !== d) {
          throw this.invalid(`cannot broadcast shapes ${shapes.map((x) => fmt(x)).join(' and ')}`);
        }
      }
      out.push(dim);
    }
    return out;
  }

  /** Elementwise fold of constants (numpy broadcasting). */
  foldElementwise(inputs: Extract<Value, { kind: 'const' }>[], f: (...xs: number[]) => number): Value {
    const shape = this.broadcast(inputs.map((v) => v.shape)) as number[];
    const size = sizeOf(shape);
    if (size > MAX_FOLDED_ELEMENTS) throw this.refuse('constant arithmetic too large to fold');
    const strides = inputs.map((v) => {
      const padded = [...new Array<number>(shape.length - v.shape.length).fill(1), ...v.shape];
      const st = new Array<number>(shape.length).fill(0);
      let acc = 1;
      for (let i = shape.length - 1; i >= 0; i--) {
        st[i] = padded[i] === 1 ? 0 : acc;
        acc *= padded[i];
      }
      return st;
    });
    const data: Dim[] = new Array(size);
    const idx = new Array<number>(shape.length).fill(0);
    for (let j = 0; j < size; j++) {
      const args = inputs.map((v, k) => {
        let flat = 0;
        for (let i = 0; i < shape.length; i++) flat += idx[i] * strides[k][i];
        return v.data[flat];
      });
      if (args.includes(N)) {
        // Only N·1, N/1, N+0, N−0 keep a symbolic batch.
        const [a, b] = args;
        const op = this.node.opType;
        if (op === 'Mul' && (a === 1 || b === 1)) data[j] = a === 1 ? b : a;
        else if (op === 'Div' && b === 1) data[j] = a;
        else if ((op === 'Add' || op === 'Sub') && b === 0) data[j] = a;
        else if (op === 'Add' && a === 0) data[j] = b;
        else throw this.refuse('arithmetic on the batch size is not supported');
      } else data[j] = f(...(args as number[]));
      for (let i = shape.length - 1; i >= 0; i--) {
        if (++idx[i] < shape[i]) break;
        idx[i] = 0;
      }
    }
    return { kind: 'const', shape, data, float: inputs.some((v) => v.float) };
  }

  /** Gathers along `axis` (flat indices per output element), for constant folding. */
  static gatherMap(shape: number[], axis: number, indices: number[]): number[] {
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    const dim = shape[axis];
    const map: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const i of indices) {
        for (let k = 0; k < inner; k++) map.push((o * dim + i) * inner + k);
      }
    }
    return map;
  }

  // ---------------------------------------------------------------------------------------------------------
  // The ops

  run(node: OnnxNode, position: number): void {
    this.node = node;
    this.position = position;
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      throw this.refuse(`operator domain "${node.domain}" is not supported`);
    }
    const op = node.opType;
    switch (op) {
      case 'Constant':
        return this.constant();
      case 'Identity':
        return this.identity();
      case 'Dropout':
        return this.dropout();
      case 'Shape':
        return this.shape();
      case 'Cast':
        return this.cast();
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
        return this.binary();
      case 'Relu':
      case 'Tanh':
      case 'Sigmoid':
      case 'Softplus':
      case 'Erf':
      case 'Sqrt':
      case 'Exp':
      case 'Log':
      case 'Neg':
        return this.unary({});
      case 'LeakyRelu':
        return this.unary({ alpha: this.float('alpha', 0.01) });
      case 'Elu':
        return this.unary({ alpha: this.float('alpha', 1) });
      case 'Selu':
        return this.unary({
          alpha: this.float('alpha', 1.6732632423543772),
          gamma: this.float('gamma', 1.0507009873554805),
        });
      case 'Pow':
        return this.pow();
      case 'Softmax':
      case 'LogSoftmax':
        return this.softmax();
      case 'Gemm':
        return this.gemm();
      case 'MatMul':
        return this.matMul();
      case 'Conv':
        return this.conv(false);
      case 'ConvTranspose':
        return this.conv(true);
      case 'MaxPool':
      case 'AveragePool':
        return this.pool();
      case 'GlobalAveragePool':
        return this.globalAveragePool();
      case 'BatchNormalization':
        return this.batchNorm();
      case 'LayerNormalization':
        return this.layerNorm();
      case 'Flatten':
        return this.flatten();
      case 'Reshape':
        return this.reshape();
      case 'Squeeze':
      case 'Unsqueeze':
        return this.squeeze(op === 'Unsqueeze');
      case 'Transpose':
        return this.transpose();
      case 'Concat':
        return this.concat();
      case 'Gather':
        return this.gather();
      case 'ReduceMean':
      case 'ReduceSum':
        return this.reduce();
      case 'Pad':
        return this.pad();
      default:
        throw this.refuse(`op type ${op} is not supported`);
    }
  }

  constant(): void {
    const a = [...this.node.attributes.values()][0];
    if (!a || this.node.attributes.size !== 1)
      throw this.invalid('a Constant needs exactly one value attribute');
    switch (a.name) {
      case 'value':
        return this.setOutput(this.tensorValue(a.t!));
      case 'value_float':
        return this.setOutput({ kind: 'const', shape: [], data: [a.f ?? 0], float: true });
      case 'value_floats':
        return this.setOutput({ kind: 'const', shape: [a.floats!.length], data: a.floats!, float: true });
      case 'value_int':
        return this.setOutput({ kind: 'const', shape: [], data: [a.i ?? 0], float: false });
      case 'value_ints':
        return this.setOutput({ kind: 'const', shape: [a.ints!.length], data: a.ints!, float: false });
      default:
        throw this.refuse(`Constant with attribute ${a.name} is not supported`);
    }
  }

  tensorValue(t: OnnxTensor | undefined): Value {
    if (!t) throw this.invalid('a tensor attribute holds no tensor');
    if (t.floats) {
      if (t.floats.length > MAX_FOLDED_ELEMENTS) throw this.refuse('a float constant is too large to fold');
      return { kind: 'const', shape: t.dims, data: Array.from(t.floats), float: true };
    }
    if (t.ints) return { kind: 'const', shape: t.dims, data: t.ints, float: false };
    throw this.refuse(`constant of data type ${t.dataType} is not supported`);
  }

  identity(): void {
    const x = this.required(0);
    if (x.kind === 'weight') {
      // The exporter's copy of an equal initializer: its own parameter, as in the source model.
      const name = this.node.outputs[0];
      const values = Float32Array.from(x.values);
      this.weights.set(name, { name, shape: x.shape, values, layer: null });
      return this.setOutput({ kind: 'weight', name, shape: x.shape, values });
    }
    this.setOutput(x);
  }

  dropout(): void {
    const training = this.input(2);
    if (training && training.kind === 'const' && training.data[0]) {
      throw this.refuse('Dropout in training mode is not supported (export the model in eval mode)');
    }
    this.setOutput(this.required(0));
  }

  shape(): void {
    const x = this.required(0);
    const rank = x.shape.length;
    let start = this.int('start', 0);
    let end = this.int('end', rank);
    start = Math.min(Math.max(start < 0 ? start + rank : start, 0), rank);
    end = Math.min(Math.max(end < 0 ? end + rank : end, 0), rank);
    const dims = x.shape.slice(start, Math.max(start, end));
    this.setOutput({ kind: 'const', shape: [dims.length], data: dims, float: false });
  }

  cast(): void {
    const x = this.required(0);
    const to = this.int('to', DataType.FLOAT);
    const float = to === DataType.FLOAT || to === DataType.DOUBLE || to === DataType.FLOAT16;
    if (x.kind === 'const') {
      const data = float ? x.data : x.data.map((d) => (d === N ? d : Math.trunc(d)));
      return this.setOutput({ ...x, data, float });
    }
    if (!float) throw this.refuse('Cast of computed values to integers is not supported');
    this.setOutput(x);
  }

  binary(): void {
    const a = this.required(0);
    const b = this.required(1);
    const op = this.node.opType;
    if (a.kind === 'const' && b.kind === 'const') {
      const f = {
        Add: (x: number, y: number) => x + y,
        Sub: (x: number, y: number) => x - y,
        Mul: (x: number, y: number) => x * y,
        Div: (x: number, y: number) => (a.float || b.float ? x / y : Math.trunc(x / y)),
      }[op]!;
      return this.setOutput(this.foldElementwise([a, b], f));
    }
    const shape = this.broadcast([a.shape, b.shape]);
    this.setOutput(this.addLayer([a, b], shape));
  }

  unary(attributes: Record<string, number>): void {
    const x = this.required(0);
    if (x.kind === 'const') throw this.refuse(`${this.node.opType} of a constant is not folded`);
    this.setOutput(this.addLayer([x], x.shape, attributes));
  }

  pow(): void {
    const x = this.required(0);
    const e = this.constFloats(this.required(1), 'the exponent');
    if (e.length !== 1) throw this.refuse('Pow needs one scalar exponent');
    const exponent = e[0];
    if (
      !(Number.isInteger(exponent) && exponent >= 0 && exponent <= 8) &&
      ![0.5, -1, -0.5].includes(exponent)
    ) {
      throw this.refuse(`Pow with exponent ${exponent} is not supported (integers 0–8, 0.5, −0.5, −1 are)`);
    }
    if (x.kind === 'const') throw this.refuse('Pow of a constant is not folded');
    this.setOutput(this.addLayer([x], x.shape, { exponent }));
  }

  softmax(): void {
    const x = this.required(0);
    const rank = x.shape.length;
    const axis = this.axis(this.int('axis', this.opset >= 13 ? -1 : 1), rank);
    if (this.opset < 13 && axis !== rank - 1) {
      throw this.refuse(`${this.node.opType} before opset 13 is supported over the last axis only`);
    }
    if (this.batched(x) && axis === 0) throw this.refuse('softmax over the batch axis');
    this.setOutput(this.addLayer([x], x.shape, { axis }));
  }

  gemm(): void {
    const a = this.required(0);
    const b = this.required(1);
    const c = this.input(2);
    const transA = this.int('transA', 0);
    const transB = this.int('transB', 0);
    if (a.shape.length !== 2 || b.shape.length !== 2) throw this.invalid('Gemm needs 2-D inputs');
    if (this.batched(b) || this.batched(c)) throw this.refuse('Gemm with batched B or C is not supported');
    if (this.batched(a) && transA)
      throw this.refuse('Gemm with transA on the batched input is not supported');
    const [m, k] = transA ? [a.shape[1], a.shape[0]] : a.shape;
    const [kb, n] = transB ? [b.shape[1], b.shape[0]] : b.shape;
    if (k !== kb) throw this.invalid(`Gemm inner dimensions ${k} and ${kb} differ`);
    if (c) this.broadcast([[m, n], c.shape]);
    this.setOutput(
      this.addLayer([a, b, c], [m, n], {
        alpha: this.float('alpha', 1),
        beta: this.float('beta', 1),
        transA,
        transB,
      }),
    );
  }

  matMul(): void {
    const a = this.required(0);
    const b = this.required(1);
    if (a.shape.length < 2 || b.shape.length < 2) throw this.refuse('MatMul of 1-D values is not supported');
    const k = a.shape[a.shape.length - 1];
    const kb = b.shape[b.shape.length - 2];
    if (k !== kb) throw this.invalid(`MatMul inner dimensions ${k} and ${kb} differ`);
    const m = b.shape[b.shape.length - 1];
    if (!this.batched(b)) {
      if (b.shape.length !== 2) throw this.refuse('MatMul by a weight of rank above 2 is not supported');
      return this.setOutput(this.addLayer([a, b], [...a.shape.slice(0, -1), m], { mode: 'weight' }));
    }
    if (!this.batched(a) || a.shape.length !== b.shape.length || a.shape.length < 3) {
      throw this.refuse('MatMul of two batched values needs equal ranks of at least 3');
    }
    const lead = a.shape.slice(0, -2);
    if (lead.some((d, i) => d !== b.shape[i])) throw this.refuse('MatMul broadcasting over leading axes');
    this.setOutput(this.addLayer([a, b], [...lead, a.shape[a.shape.length - 2], m], { mode: 'batched' }));
  }

  /** Spatial attributes of Conv/ConvTranspose/pooling for a 1-D or 2-D window, as [height, width] pairs. */
  window(spatial: number[], kernel: number[]) {
    const rank = spatial.length;
    const pair = (v: number[] | undefined, fallback: number): [number, number] => {
      const list = v ?? new Array<number>(rank).fill(fallback);
      if (list.length !== rank) throw this.invalid(`an attribute has ${list.length} values for ${rank} axes`);
      return rank === 1 ? [1, list[0]] : [list[0], list[1]];
    };
    const strides = pair(this.ints('strides'), 1);
    const dilations = pair(this.ints('dilations'), 1);
    const k = pair(kernel, 1);
    if ([...strides, ...dilations, ...k].some((d) => !Number.isInteger(d) || d < 1)) {
      throw this.invalid('strides, dilations and kernel sizes must be positive');
    }
    const pads = this.ints('pads') ?? new Array<number>(2 * rank).fill(0);
    if (pads.length !== 2 * rank || pads.some((p) => !Number.isInteger(p) || p < 0)) {
      throw this.invalid(`pads [${pads.join(', ')}] must hold ${2 * rank} non-negative values`);
    }
    const begin = rank === 1 ? [0, pads[0]] : [pads[0], pads[1]];
    const end = rank === 1 ? [0, pads[1]] : [pads[2], pads[3]];
    return { strides, dilations, kernel: k, begin, end, rank };
  }

  /** Explicit pads for auto_pad SAME_UPPER/SAME_LOWER/VALID (NOTSET keeps `pads`). */
  autoPad(w: ReturnType<Importer['window']>, size: [number, number]): void {
    const mode = this.string('auto_pad', 'NOTSET');
    if (mode === 'NOTSET') return;
    for (let i = 0; i < 2; i++) {
      if (mode === 'VALID') {
        w.begin[i] = 0;
        w.end[i] = 0;
        continue;
      }
      if (mode !== 'SAME_UPPER' && mode !== 'SAME_LOWER') throw this.invalid(`auto_pad ${mode}`);
      const out = Math.ceil(size[i] / w.strides[i]);
      const total = Math.max((out - 1) * w.strides[i] + (w.kernel[i] - 1) * w.dilations[i] + 1 - size[i], 0);
      const small = Math.floor(total / 2);
      w.begin[i] = mode === 'SAME_UPPER' ? small : total - small;
      w.end[i] = total - w.begin[i];
    }
  }

  spatialOf(x: Value, what: string): { channels: number; size: [number, number]; rank: number } {
    if (!this.batched(x)) throw this.refuse(`${what} of a value without the batch axis is not supported`);
    const rank = x.shape.length - 2;
    if (rank !== 1 && rank !== 2) throw this.refuse(`${what} is supported in 1-D and 2-D (got ${rank}-D)`);
    const dims = x.shape.slice(1) as number[];
    return { channels: dims[0], size: rank === 1 ? [1, dims[1]] : [dims[1], dims[2]], rank };
  }

  conv(transposed: boolean): void {
    const what = transposed ? 'ConvTranspose' : 'Conv';
    const x = this.required(0);
    const w = this.required(1);
    const bias = this.input(2);
    if (this.batched(w) || this.batched(bias)) throw this.refuse(`${what} with a batched kernel or bias`);
    const { channels, size, rank } = this.spatialOf(x, what);
    const wShape = w.shape as number[];
    if (wShape.length !== rank + 2) throw this.invalid(`kernel ${fmt(wShape)} for a ${rank}-D input`);
    const group = this.int('group', 1);
    if (group < 1 || channels % group !== 0) throw this.invalid(`group ${group} for ${channels} channels`);
    const kernel = this.ints('kernel_shape') ?? wShape.slice(2);
    if (kernel.some((d, i) => d !== wShape[2 + i]))
      throw this.invalid(`kernel_shape disagrees with the kernel`);
    const win = this.window(Array.from({ length: rank }), kernel);
    let filters: number;
    if (!transposed) {
      if (wShape[1] * group !== channels) {
        throw this.invalid(
          `kernel ${fmt(wShape)} expects ${wShape[1] * group} input channels, got ${channels}`,
        );
      }
      filters = wShape[0];
      if (filters % group !== 0) throw this.invalid(`${filters} filters in ${group} groups`);
      this.autoPad(win, size);
    } else {
      if (wShape[0] !== channels) throw this.invalid(`kernel ${fmt(wShape)} for ${channels} input channels`);
      filters = wShape[1] * group;
    }
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== filters)) {
      throw this.invalid(`bias ${fmt(bias.shape)} for ${filters} filters`);
    }
    const out: [number, number] = [1, 1];
    const outputPadding = [0, 0];
    if (transposed) {
      const op = this.ints('output_padding');
      if (op) {
        if (op.length !== rank) throw this.invalid('output_padding');
        outputPadding.splice(2 - rank, rank, ...op);
      }
      const outputShape = this.ints('output_shape');
      const mode = this.string('auto_pad', 'NOTSET');
      for (let i = 2 - rank; i < 2; i++) {
        const eff = (win.kernel[i] - 1) * win.dilations[i] + 1;
        const target =
          outputShape?.[i - (2 - rank)] ??
          (mode === 'SAME_UPPER' || mode === 'SAME_LOWER' ? size[i] * win.strides[i] : undefined);
        if (target !== undefined) {
          const total = win.strides[i] * (size[i] - 1) + outputPadding[i] + eff - target;
          if (total < 0) throw this.refuse('ConvTranspose output_shape larger than the kernel can reach');
          const half = Math.floor(total / 2);
          win.begin[i] = mode === 'SAME_UPPER' ? half : total - half;
          win.end[i] = total - win.begin[i];
        }
        out[i] = win.strides[i] * (size[i] - 1) + outputPadding[i] + eff - win.begin[i] - win.end[i];
        if (outputPadding[i] >= Math.max(win.strides[i], win.dilations[i])) {
          throw this.invalid('output_padding must be below the stride or dilation');
        }
      }
    } else {
      for (let i = 0; i < 2; i++) {
        const eff = (win.kernel[i] - 1) * win.dilations[i] + 1;
        out[i] = Math.floor((size[i] + win.begin[i] + win.end[i] - eff) / win.strides[i]) + 1;
      }
    }
    if (out.some((d) => d < 1)) throw this.invalid(`the output would be empty (${out.join('×')})`);
    const outShape: Dim[] = rank === 1 ? [N, filters, out[1]] : [N, filters, out[0], out[1]];
    this.setOutput(
      this.addLayer([x, w, bias], outShape, {
        rank,
        group,
        filters,
        kernel: win.kernel,
        strides: win.strides,
        dilations: win.dilations,
        pads: [win.begin[0], win.end[0], win.begin[1], win.end[1]],
      }),
    );
  }

  pool(): void {
    const max = this.node.opType === 'MaxPool';
    const x = this.required(0);
    const { size, rank, channels } = this.spatialOf(x, this.node.opType);
    const kernel = this.ints('kernel_shape');
    if (!kernel) throw this.invalid('kernel_shape is required');
    const win = this.window(Array.from({ length: rank }), kernel);
    if (!max && this.attr('dilations') && win.dilations.some((d) => d !== 1)) {
      throw this.refuse('AveragePool with dilations is not supported');
    }
    if (this.int('storage_order', 0) !== 0)
      throw this.refuse('MaxPool with storage_order 1 is not supported');
    this.autoPad(win, size);
    const out: [number, number] = [1, 1];
    for (let i = 0; i < 2; i++) {
      const eff = (win.kernel[i] - 1) * win.dilations[i] + 1;
      const span = size[i] + win.begin[i] + win.end[i] - eff;
      out[i] = Math.floor(span / win.strides[i]) + 1;
      if (this.int('ceil_mode', 0) && Math.ceil(span / win.strides[i]) + 1 !== out[i]) {
        throw this.refuse('ceil_mode 1 that changes the output size is not supported');
      }
      if (win.begin[i] >= eff || win.end[i] >= eff)
        throw this.invalid('pads must be smaller than the window');
    }
    if (out.some((d) => d < 1)) throw this.invalid('the output would be empty');
    const outShape: Dim[] = rank === 1 ? [N, channels, out[1]] : [N, channels, out[0], out[1]];
    this.setOutput(
      this.addLayer([x], outShape, {
        rank,
        kernel: win.kernel,
        strides: win.strides,
        dilations: win.dilations,
        pads: [win.begin[0], win.end[0], win.begin[1], win.end[1]],
        countIncludePad: max ? 0 : this.int('count_include_pad', 0),
      }),
    );
  }

  globalAveragePool(): void {
    const x = this.required(0);
    if (!this.batched(x) || x.shape.length < 3)
      throw this.refuse('GlobalAveragePool needs an [N, C, ...] input');
    const shape = x.shape.map((d, i) => (i < 2 ? d : 1));
    this.setOutput(this.addLayer([x], shape, { axes: x.shape.slice(2).map((_, i) => i + 2) }));
  }

  batchNorm(): void {
    const x = this.required(0);
    if (this.int('training_mode', 0)) {
      throw this.refuse(
        'BatchNormalization in training mode is not supported (export the model in eval mode, with training=TrainingMode.PRESERVE)',
      );
    }
    if (!this.batched(x) || x.shape.length < 2)
      throw this.refuse('BatchNormalization needs an [N, C, ...] input');
    const channels = x.shape[1] as number;
    const stat = (i: number, what: string): Value => {
      const values = this.constFloats(this.required(i), `the running ${what}`);
      if (values.length !== channels)
        throw this.invalid(`${what} has ${values.length} values for ${channels} channels`);
      return { kind: 'const', shape: [channels], data: values, float: true };
    };
    const scale = this.required(1);
    const bias = this.required(2);
    for (const p of [scale, bias]) {
      if (this.batched(p) || sizeOf(p.shape as number[]) !== channels) {
        throw this.invalid(`scale and bias need ${channels} values`);
      }
    }
    this.setOutput(
      this.addLayer([x, scale, bias, stat(3, 'mean'), stat(4, 'variance')], x.shape, {
        epsilon: this.float('epsilon', 1e-5),
      }),
    );
  }

  layerNorm(): void {
    const x = this.required(0);
    const rank = x.shape.length;
    const axis = this.axis(this.int('axis', -1), rank);
    if (this.batched(x) && axis === 0) throw this.refuse('LayerNormalization over the batch axis');
    const scale = this.required(1);
    const bias = this.input(2);
    this.setOutput(
      this.addLayer([x, scale, bias], x.shape, {
        axes: Array.from({ length: rank - axis }, (_, i) => axis + i),
        epsilon: this.float('epsilon', 1e-5),
      }),
    );
  }

  /** A reshape of `x` to the full shape `shape` (N first when batched), as its own layer or folded. */
  reshapeTo(x: Value, shape: Dim[]): void {
    if (x.kind === 'const') return this.setOutput({ ...x, shape: shape as number[] });
    if (x.kind === 'weight') {
      throw this.refuse(
        `${this.node.opType} of a weight is not supported (export with do_constant_folding=True)`,
      );
    }
    if (x.batched && shape[0] !== N) throw this.refuse(`the batch axis would move (to ${fmt(shape)})`);
    this.setOutput(this.addLayer([x], shape));
  }

  flatten(): void {
    const x = this.required(0);
    const rank = x.shape.length;
    let axis = this.int('axis', 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) throw this.invalid(`axis ${axis}`);
    const head = x.shape.slice(0, axis);
    const tail = x.shape.slice(axis);
    const product = (dims: Dim[]): Dim => {
      const numbers = dims.filter((d): d is number => d !== N);
      return dims.includes(N) ? (sizeOf(numbers) === 1 ? N : -1) : sizeOf(numbers);
    };
    const shape = [product(head), product(tail)];
    if (shape.includes(-1) || shape[1] === N)
      throw this.refuse('Flatten would merge the batch axis with others');
    this.reshapeTo(x, shape);
  }

  reshape(): void {
    const x = this.required(0);
    const target = this.constInts(this.required(1), 'the target shape', true);
    const allowZero = this.int('allowzero', 0);
    const dims = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
    if (dims.some((d) => d === undefined)) throw this.invalid('a 0 in the shape has no input axis to copy');
    const known = dims.filter((d): d is number => d !== N && d !== -1);
    const inputShape: Dim[] = x.shape;
    const inputNumbers = inputShape.filter((d): d is number => d !== N);
    const total = sizeOf(inputNumbers);
    const xHasN = inputShape.includes(N);
    const out = [...dims];
    const nCount = dims.filter((d) => d === N).length;
    const minus = dims.indexOf(-1);
    if (dims.filter((d) => d === -1).length > 1) throw this.invalid('two −1 in the target shape');
    if (!xHasN) {
      if (nCount > 0) throw this.refuse('reshape of a constant to the batch size');
      if (minus >= 0) out[minus] = total / sizeOf(known);
    } else if (nCount === 1) {
      if (minus >= 0) out[minus] = total / sizeOf(known);
    } else if (nCount === 0) {
      // The exporter folded x.size(0) into a number, or the target starts with −1: the first axis is the batch.
      const rest = dims.slice(1);
      const restKnown = rest.filter((d): d is number => d !== -1);
      const restMinus = rest.indexOf(-1);
      if (dims[0] === -1) {
        if (restMinus >= 0 || sizeOf(restKnown) !== total) {
          throw this.refuse(`the target shape ${fmt(target)} does not keep the batch axis first`);
        }
      } else if (restMinus >= 0) {
        out[restMinus + 1] = total / sizeOf(restKnown);
      } else if (sizeOf(restKnown) !== total) {
        throw this.refuse(`the target shape ${fmt(target)} does not keep the batch axis first`);
      }
      out[0] = N;
    } else throw this.refuse(`the target shape ${fmt(target)} repeats the batch size`);
    if (out.some((d) => d !== N && (!Number.isInteger(d) || (d as number) < 0))) {
      throw this.invalid(`cannot reshape ${fmt(x.shape)} to ${fmt(target)}`);
    }
    const outNumbers = out.filter((d): d is number => d !== N);
    if (sizeOf(outNumbers) !== total) throw this.invalid(`cannot reshape ${fmt(x.shape)} to ${fmt(target)}`);
    this.reshapeTo(x, out);
  }

  axesInput(attrName: string, inputIndex: number): number[] | undefined {
    const fromAttr = this.ints(attrName);
    if (fromAttr) return fromAttr;
    const v = this.input(inputIndex);
    return v ? (this.constInts(v, 'axes') as number[]) : undefined;
  }

  squeeze(unsqueeze: boolean): void {
    const x = this.required(0);
    const axes = this.axesInput('axes', 1);
    let shape: Dim[];
    if (unsqueeze) {
      if (!axes) throw this.invalid('Unsqueeze needs axes');
      const rank = x.shape.length + axes.length;
      const norm = axes.map((a) => this.axis(a, rank));
      shape = [];
      let k = 0;
      for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[k++]);
    } else {
      const rank = x.shape.length;
      const norm = axes
        ? axes.map((a) => this.axis(a, rank))
        : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      if (norm.some((a) => x.shape[a] !== 1))
        throw this.invalid(`cannot squeeze axes [${norm}] of ${fmt(x.shape)}`);
      shape = x.shape.filter((_, i) => !norm.includes(i));
    }
    this.reshapeTo(x, shape);
  }

  transpose(): void {
    const x = this.required(0);
    const rank = x.shape.length;
    const perm = this.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      throw this.invalid(`perm [${perm.join(', ')}] for rank ${rank}`);
    }
    const shape = perm.map((p) => x.shape[p]);
    if (x.kind === 'const') {
      const strides = x.shape.map((_, i) => sizeOf(x.shape.slice(i + 1)));
      const data: Dim[] = [];
      const idx = new Array<number>(rank).fill(0);
      for (let j = 0; j < x.data.length; j++) {
        let flat = 0;
        for (let i = 0; i < rank; i++) flat += idx[i] * strides[perm[i]];
        data.push(x.data[flat]);
        for (let i = rank - 1; i >= 0; i--) {
          if (++idx[i] < (shape[i] as number)) break;
          idx[i] = 0;
        }
      }
      return this.setOutput({ ...x, shape: shape as number[], data });
    }
    if (this.batched(x) && perm[0] !== 0) throw this.refuse('Transpose moving the batch axis');
    this.setOutput(this.addLayer([x], shape, { perm }));
  }

  concat(): void {
    const inputs = this.node.inputs.map((_, i) => this.required(i));
    const rank = inputs[0].shape.length;
    const axis = this.axis(this.int('axis', 0), rank);
    if (inputs.some((v) => v.shape.length !== rank))
      throw this.invalid('Concat of values of different ranks');
    for (const v of inputs) {
      if (v.shape.some((d, i) => i !== axis && d !== inputs[0].shape[i])) {
        throw this.invalid(`Concat of ${inputs.map((u) => fmt(u.shape)).join(', ')} along axis ${axis}`);
      }
    }
    const lengths = inputs.map((v) => v.shape[axis]);
    if (lengths.includes(N)) throw this.refuse('Concat along the batch axis');
    const shape = [...inputs[0].shape];
    shape[axis] = (lengths as number[]).reduce((a, b) => a + b, 0);
    if (inputs.every((v) => v.kind === 'const')) {
      const consts = inputs as Extract<Value, { kind: 'const' }>[];
      const outer = sizeOf(shape.slice(0, axis) as number[]);
      const data: Dim[] = [];
      for (let o = 0; o < outer; o++) {
        for (const v of consts) {
          const chunk = sizeOf(v.shape.slice(axis));
          data.push(...v.data.slice(o * chunk, (o + 1) * chunk));
        }
      }
      return this.setOutput({
        kind: 'const',
        shape: shape as number[],
        data,
        float: consts.some((v) => v.float),
      });
    }
    const batched = inputs.map((v) => this.batched(v));
    if (batched.some((b) => b !== batched[0])) {
      throw this.refuse('Concat of batched values with values that have no batch axis');
    }
    this.setOutput(this.addLayer(inputs, shape, { axis }));
  }

  gather(): void {
    const data = this.required(0);
    const indices = this.required(1);
    const rank = data.shape.length;
    const axis = this.axis(this.int('axis', 0), rank);
    if (indices.kind === 'const') {
      const dim = data.shape[axis];
      if (dim === N) throw this.refuse('Gather along the batch axis');
      const idx = (this.constInts(indices, 'indices') as number[]).map((i) => (i < 0 ? i + dim : i));
      if (idx.some((i) => i < 0 || i >= dim)) throw this.invalid(`an index is outside [0, ${dim})`);
      const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
      if (data.kind === 'const') {
        const map = Importer.gatherMap(data.shape, axis, idx);
        return this.setOutput({ ...data, shape: shape as number[], data: map.map((k) => data.data[k]) });
      }
      return this.setOutput(
        this.addLayer([data], shape, { mode: 'index', axis, indices: idx, indicesShape: indices.shape }),
      );
    }
    if (!this.batched(indices) || this.batched(data) || axis !== 0) {
      throw this.refuse(
        'Gather is supported as an embedding lookup (a weight indexed by the input) or with constant indices',
      );
    }
    const shape = [...indices.shape, ...data.shape.slice(1)];
    this.setOutput(
      this.addLayer([data, indices], shape, { mode: 'embedding', vocabulary: data.shape[0] as number }),
    );
  }

  /** Zero padding (mode constant, value 0), as PyTorch exports before AveragePool with count_include_pad. */
  pad(): void {
    const x = this.required(0);
    const mode = this.string('mode', 'constant');
    if (mode !== 'constant') throw this.refuse(`Pad mode ${mode} is not supported (constant is)`);
    const pads = this.opset >= 11 ? this.constInts(this.required(1), 'pads') : this.ints('pads');
    const rank = x.shape.length;
    if (!pads || pads.length !== 2 * rank) throw this.invalid(`pads for rank ${rank}`);
    const value = this.opset >= 11 ? this.input(2) : undefined;
    const fill = value ? this.constFloats(value, 'the pad value') : [this.float('value', 0)];
    if (fill.some((v) => v !== 0)) throw this.refuse('Pad with a non-zero value is not supported');
    if (this.opset >= 18 && this.input(3)) throw this.refuse('Pad with axes is not supported');
    const before = pads.slice(0, rank) as number[];
    const after = pads.slice(rank) as number[];
    if (this.batched(x) && (before[0] !== 0 || after[0] !== 0)) throw this.refuse('Pad of the batch axis');
    if ([...before, ...after].some((p) => p < 0)) throw this.refuse('Pad with negative pads (cropping)');
    if (x.kind === 'const') throw this.refuse('Pad of a constant is not folded');
    const shape = x.shape.map((d, i) => (d === N ? d : d + before[i] + after[i]));
    this.setOutput(this.addLayer([x], shape, { before }));
  }

  reduce(): void {
    const x = this.required(0);
    const axesFromInput = this.node.opType === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const axes = axesFromInput ? this.axesInput('__none__', 1) : this.ints('axes');
    const keepDims = this.int('keepdims', 1);
    const rank = x.shape.length;
    let norm: number[];
    if (!axes || axes.length === 0) {
      if (this.int('noop_with_empty_axes', 0)) return this.setOutput(x);
      norm = x.shape.map((_, i) => i);
    } else norm = [...new Set(axes.map((a) => this.axis(a, rank)))].sort((a, b) => a - b);
    if (this.batched(x) && norm.includes(0)) throw this.refuse(`${this.node.opType} over the batch axis`);
    if (x.kind === 'const') throw this.refuse(`${this.node.opType} of a constant is not folded`);
    const shape = keepDims
      ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !norm.includes(i));
    this.setOutput(this.addLayer([x], shape, { axes: norm, keepDims }));
  }
}

/** The engine's final activation for an output layer: a last-axis Softmax or a Sigmoid that nothing else reads. */
function finalActivationOf(
  layers: LayerSpec[],
  output: string,
): { activation: ActivationName; layer: string } {
  const layer = layers.find((l) => l.name === output)!;
  const readers = layers.filter((l) => l.inbound.includes(output)).length;
  if (layer.kind === 'onnx' && readers === 0 && layer.operands[0]?.kind === 'layer') {
    const rank = layer.outputShape.length + 1;
    if (layer.opType === 'Softmax' && layer.attributes.axis === rank - 1)
      return { activation: 'softmax', layer: output };
    if (layer.opType === 'Sigmoid') return { activation: 'sigmoid', layer: output };
  }
  return { activation: 'linear', layer: output };
}

/**
 * Imports an ONNX model from its bytes.
 * @throws EngineError('invalid_model') for malformed files or graphs; EngineError('unsupported_layer') naming every
 *   unsupported op type with its node and position, or an unsupported use of a supported op, with the supported list
 */
export function importOnnx(bytes: Uint8Array): ParsedModel {
  const model = readOnnxModel(bytes);
  const { graph } = model;
  const unsupported = graph.nodes
    .map((n, i) => ({ n, i }))
    .filter(({ n }) => !SUPPORTED.has(n.opType) || (n.domain !== '' && n.domain !== 'ai.onnx'));
  if (unsupported.length > 0) {
    const types = [...new Set(unsupported.map(({ n }) => n.opType))];
    const listed = unsupported
      .slice(0, 10)
      .map(
        ({ n, i }) =>
          `${n.opType}${n.domain ? ` (domain ${n.domain})` : ''} at node ${i} ("${n.name || n.opType}")`,
      );
    throw new EngineError(
      'unsupported_layer',
      `ONNX op type${types.length > 1 ? 's' : ''} ${types.join(', ')} ${types.length > 1 ? 'are' : 'is'} not supported: ${listed.join('; ')}${unsupported.length > 10 ? '; ...' : ''}. Supported: ${supportedList()}.`,
      {
        opTypes: types,
        nodes: unsupported.map(({ n, i }) => ({ name: n.name, position: i, opType: n.opType })),
      },
    );
  }

  const importer = new Importer(model.opset || 13);
  for (const t of graph.initializers) {
    if (!t.name) throw invalidOnnx('an initializer has no name');
    if (importer.values.has(t.name)) throw invalidOnnx(`two initializers are named "${t.name}"`);
    if (t.floats) {
      importer.weights.set(t.name, { name: t.name, shape: t.dims, values: t.floats, layer: null });
      importer.values.set(t.name, { kind: 'weight', name: t.name, shape: t.dims, values: t.floats });
    } else if (t.ints) {
      importer.values.set(t.name, { kind: 'const', shape: t.dims, data: t.ints, float: false });
    } else {
      throw new EngineError(
        'unsupported_layer',
        `ONNX initializer "${t.name}" has data type ${t.dataType}; float32, float64 and integer initializers are supported (export in float32).`,
      );
    }
  }
  const inputs = graph.inputs.filter((i) => !importer.values.has(i.name));
  if (inputs.length !== 1) {
    throw new EngineError(
      'invalid_model',
      `The ONNX graph has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); exactly one is supported.`,
    );
  }
  if (graph.outputs.length !== 1) {
    throw new EngineError(
      'invalid_model',
      `The ONNX graph has ${graph.outputs.length} outputs (${graph.outputs.map((o) => o.name).join(', ')}); exactly one is supported.`,
    );
  }
  const input = inputs[0];
  if (!input.dims || input.dims.length < 2) {
    throw invalidOnnx(`graph input "${input.name}" needs a shape [batch, ...] of rank 2 or more`);
  }
  const perExample = input.dims.slice(1);
  if (perExample.some((d) => typeof d !== 'number' || d < 1)) {
    throw new EngineError(
      'invalid_model',
      `ONNX graph input "${input.name}" has shape [${input.dims.map(String).join(', ')}]; every axis after the first (the batch) must have a fixed size (export with dynamic_axes on axis 0 only).`,
    );
  }
  const intInput = [DataType.INT64, DataType.INT32, DataType.INT16, DataType.INT8, DataType.UINT8].includes(
    input.elemType as 7,
  );
  if (!intInput && input.elemType !== DataType.FLOAT && input.elemType !== DataType.DOUBLE) {
    throw invalidOnnx(`graph input "${input.name}" has element type ${input.elemType}`);
  }
  const inputShape = perExample as number[];
  importer.reserveName(input.name);
  importer.layers.push({
    kind: 'input',
    name: input.name,
    className: 'InputLayer',
    inbound: [],
    inputShapes: [],
    outputShape: inputShape,
    weightNames: [],
  });
  importer.values.set(input.name, {
    kind: 'layer',
    layer: input.name,
    shape: [N, ...inputShape],
    batched: true,
    float: !intInput,
  });

  graph.nodes.forEach((node, i) => importer.run(node, i));

  const outputInfo = graph.outputs[0];
  const out = importer.values.get(outputInfo.name);
  if (!out) throw invalidOnnx(`no node produces the graph output "${outputInfo.name}"`);
  if (out.kind !== 'layer' || !out.batched) {
    throw new EngineError(
      'invalid_model',
      `The ONNX graph output "${outputInfo.name}" does not depend on the input.`,
    );
  }
  const outputShape = out.shape.slice(1) as number[];
  if (outputInfo.dims && outputInfo.dims.length === out.shape.length) {
    const declared = outputInfo.dims.slice(1);
    if (declared.some((d, i) => typeof d === 'number' && d !== outputShape[i])) {
      throw invalidOnnx(
        `the graph output "${outputInfo.name}" is declared [${outputInfo.dims.map(String).join(', ')}] but computes [N, ${outputShape.join(', ')}]`,
      );
    }
  }
  if (out.layer === input.name) throw new EngineError('invalid_model', 'The ONNX graph output is its input.');

  // Only layers the output depends on are computed.
  const needed = new Set<string>([out.layer]);
  for (let i = importer.layers.length - 1; i >= 0; i--) {
    const l = importer.layers[i];
    if (needed.has(l.name)) l.inbound.forEach((n) => needed.add(n));
  }
  const layers = importer.layers.filter((l) => needed.has(l.name));
  const read = new Map<string, string>();
  for (const l of layers) for (const w of l.weightNames) if (!read.has(w)) read.set(w, l.name);

  const weights: WeightTensor[] = [];
  const parameters: ParamLayout[] = [];
  let offset = 0;
  for (const entry of importer.weights.values()) {
    const layer = read.get(entry.name);
    if (layer === undefined) continue;
    weights.push({ name: entry.name, layer, shape: entry.shape, trainable: true, values: entry.values });
    const size = sizeOf(entry.shape);
    parameters.push({ name: entry.name, layer, shape: entry.shape, offset, size });
    offset += size;
  }
  return {
    name: graph.name || 'onnx',
    layers,
    weights,
    parameters,
    inputs: [{ name: input.name, shape: [null, ...inputShape], dtype: intInput ? 'int32' : 'float32' }],
    outputs: [
      {
        name: out.layer,
        shape: [null, ...outputShape],
        finalActivation: finalActivationOf(layers, out.layer),
      },
    ],
  };
}
