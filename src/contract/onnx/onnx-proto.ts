/**
 * ONNX ModelProto → plain objects (tf-free): the graph's nodes, initializers, inputs and outputs, with tensor
 * data decoded. Reads only what the importer needs and skips the rest without recursing into it; refuses
 * external-data tensors, sparse initializers, and element counts that the bytes present do not hold (checked
 * before anything is allocated). Field numbers are those of onnx/onnx.proto.
 */
import { invalidOnnx, ProtoReader, WIRE_BYTES, WIRE_VARINT, WIRE_FIXED32 } from './protobuf.js';

/** TensorProto.DataType values the importer reads. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

const INT_TYPES: Record<number, { bytes: number; read: (v: DataView, at: number) => number }> = {
  [DataType.UINT8]: { bytes: 1, read: (v, at) => v.getUint8(at) },
  [DataType.INT8]: { bytes: 1, read: (v, at) => v.getInt8(at) },
  [DataType.BOOL]: { bytes: 1, read: (v, at) => v.getUint8(at) },
  [DataType.UINT16]: { bytes: 2, read: (v, at) => v.getUint16(at, true) },
  [DataType.INT16]: { bytes: 2, read: (v, at) => v.getInt16(at, true) },
  [DataType.INT32]: { bytes: 4, read: (v, at) => v.getInt32(at, true) },
  [DataType.UINT32]: { bytes: 4, read: (v, at) => v.getUint32(at, true) },
  [DataType.INT64]: { bytes: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  [DataType.UINT64]: { bytes: 8, read: (v, at) => Number(v.getBigUint64(at, true)) },
};

/** Most elements one tensor may declare (1 GiB of float32). */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
/** Most elements of an integer tensor (shapes, axes, indices: small by nature). */
export const MAX_INT_TENSOR_ELEMENTS = 2 ** 22;
/** Most dimensions of one tensor. */
const MAX_RANK = 16;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** FLOAT and DOUBLE tensors, as float32. */
  floats?: Float32Array;
  /** Integer and bool tensors. */
  ints?: number[];
}

export interface OnnxAttribute {
  name: string;
  /** AttributeProto.AttributeType: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH, 6 FLOATS, 7 INTS, 8 STRINGS, ... */
  type: number;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxTensor;
  floats?: number[];
  ints?: number[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType of a tensor type, 0 when absent or not a tensor. */
  elemType: number;
  /** Each dimension's value, its symbolic name, or null when neither is given; null without a shape. */
  dims: (number | string | null)[] | null;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  /** The default domain's opset version (0 when not declared). */
  opset: number;
  /** Other operator-set domains the model imports. */
  otherDomains: string[];
  producer: string;
  graph: OnnxGraph;
}

function elementCount(dims: number[], name: string): number {
  let count = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalidOnnx(`tensor "${name}" has dimension ${d}`);
    count *= d;
    if (count > MAX_TENSOR_ELEMENTS) {
      throw invalidOnnx(
        `tensor "${name}" declares shape [${dims.join(', ')}], more than ${MAX_TENSOR_ELEMENTS} elements`,
      );
    }
  }
  return count;
}

function readTensor(r: ProtoReader): OnnxTensor {
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  const floatData: number[] = [];
  const doubleData: number[] = [];
  const intData: number[] = [];
  let external = false;
  let segmented = false;
  for (let key = r.next(); key; key = r.next()) {
    switch (key.field) {
      case 1:
        r.int64s(key.wire, dims, MAX_RANK);
        break;
      case 2:
        r.expect(key, WIRE_VARINT, 'TensorProto.data_type');
        dataType = r.varint();
        break;
      case 3:
        segmented = true;
        r.skip(key.wire);
        break;
      case 4:
        r.floats(key.wire, floatData, MAX_TENSOR_ELEMENTS);
        break;
      case 5: // int32_data (also bool, int8/16, uint8/16, float16 bits)
      case 7: // int64_data
      case 11: // uint64_data
        r.int64s(key.wire, intData, MAX_INT_TENSOR_ELEMENTS);
        break;
      case 8:
        r.expect(key, WIRE_BYTES, 'TensorProto.name');
        name = r.string();
        break;
      case 9:
        r.expect(key, WIRE_BYTES, 'TensorProto.raw_data');
        raw = r.bytesField();
        break;
      case 10:
        r.doubles(key.wire, doubleData, MAX_TENSOR_ELEMENTS);
        break;
      case 13: // external_data
        external = true;
        r.skip(key.wire);
        break;
      case 14: // data_location: 1 = EXTERNAL
        r.expect(key, WIRE_VARINT, 'TensorProto.data_location');
        if (r.varint() === 1) external = true;
        break;
      default:
        r.skip(key.wire);
    }
  }
  const label = name || '(unnamed)';
  if (external) {
    throw invalidOnnx(
      `tensor "${label}" keeps its data in an external file; export with the weights inside the .onnx (torch.onnx.export does for models under 2 GB)`,
    );
  }
  if (segmented) throw invalidOnnx(`tensor "${label}" is segmented; segments are not supported`);
  const count = elementCount(dims, label);
  const tensor: OnnxTensor = { name, dims, dataType };
  if (dataType === DataType.FLOAT || dataType === DataType.DOUBLE) {
    const width = dataType === DataType.FLOAT ? 4 : 8;
    if (raw) {
      if (raw.byteLength !== count * width) {
        throw invalidOnnx(
          `tensor "${label}" of shape [${dims.join(', ')}] needs ${count * width} bytes of raw data, has ${raw.byteLength}`,
        );
      }
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        values[i] = width === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
      }
      tensor.floats = values;
    } else {
      const list = dataType === DataType.FLOAT ? floatData : doubleData;
      if (list.length !== count) {
        throw invalidOnnx(`tensor "${label}" of shape [${dims.join(', ')}] holds ${list.length} values`);
      }
      tensor.floats = Float32Array.from(list);
    }
    return tensor;
  }
  const intType = INT_TYPES[dataType];
  if (intType) {
    if (count > MAX_INT_TENSOR_ELEMENTS) {
      throw invalidOnnx(
        `integer tensor "${label}" has ${count} elements (at most ${MAX_INT_TENSOR_ELEMENTS})`,
      );
    }
    if (raw) {
      if (raw.byteLength !== count * intType.bytes) {
        throw invalidOnnx(
          `tensor "${label}" of shape [${dims.join(', ')}] needs ${count * intType.bytes} bytes of raw data, has ${raw.byteLength}`,
        );
      }
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      tensor.ints = Array.from({ length: count }, (_, i) => intType.read(view, i * intType.bytes));
    } else {
      if (intData.length !== count) {
        throw invalidOnnx(`tensor "${label}" of shape [${dims.join(', ')}] holds ${intData.length} values`);
      }
      tensor.ints = intData;
    }
    return tensor;
  }
  // Other types (float16, strings, complex): kept without data; the importer refuses them where they are read.
  return tensor;
}

function readAttribute(r: ProtoReader): OnnxAttribute {
  const a: OnnxAttribute = { name: '', type: 0 };
  for (let key = r.next(); key; key = r.next()) {
    switch (key.field) {
      case 1:
        r.expect(key, WIRE_BYTES, 'AttributeProto.name');
        a.name = r.string();
        break;
      case 2:
        r.expect(key, WIRE_FIXED32, 'AttributeProto.f');
        a.f = r.float();
        break;
      case 3:
        r.expect(key, WIRE_VARINT, 'AttributeProto.i');
        a.i = r.int64();
        break;
      case 4:
        r.expect(key, WIRE_BYTES, 'AttributeProto.s');
        a.s = new TextDecoder().decode(r.bytesField());
        break;
      case 5:
        r.expect(key, WIRE_BYTES, 'AttributeProto.t');
        a.t = readTensor(r.message());
        break;
      case 7:
        a.floats ??= [];
        r.floats(key.wire, a.floats, MAX_INT_TENSOR_ELEMENTS);
        break;
      case 8:
        a.ints ??= [];
        r.int64s(key.wire, a.ints, MAX_INT_TENSOR_ELEMENTS);
        break;
      case 20:
        r.expect(key, WIRE_VARINT, 'AttributeProto.type');
        a.type = r.varint();
        break;
      default:
        // g (subgraphs), strings, tensors, sparse tensors, type protos: skipped unread.
        r.skip(key.wire);
    }
  }
  if (a.type === 0) {
    // IR < 0.0.2 files may omit the type: infer it from the field present.
    a.type =
      a.f !== undefined
        ? 1
        : a.i !== undefined
          ? 2
          : a.s !== undefined
            ? 3
            : a.t
              ? 4
              : a.floats
                ? 6
                : a.ints
                  ? 7
                  : 0;
  }
  return a;
}

function readNode(r: ProtoReader): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  for (let key = r.next(); key; key = r.next()) {
    switch (key.field) {
      case 1:
        r.expect(key, WIRE_BYTES, 'NodeProto.input');
        node.inputs.push(r.string());
        break;
      case 2:
        r.expect(key, WIRE_BYTES, 'NodeProto.output');
        node.outputs.push(r.string());
        break;
      case 3:
        r.expect(key, WIRE_BYTES, 'NodeProto.name');
        node.name = r.string();
        break;
      case 4:
        r.expect(key, WIRE_BYTES, 'NodeProto.op_type');
        node.opType = r.string();
        break;
      case 5: {
        r.expect(key, WIRE_BYTES, 'NodeProto.attribute');
        const a = readAttribute(r.message());
        node.attributes.set(a.name, a);
        break;
      }
      case 7:
        r.expect(key, WIRE_BYTES, 'NodeProto.domain');
        node.domain = r.string();
        break;
      default:
        r.skip(key.wire);
    }
  }
  return node;
}

function readShape(r: ProtoReader): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  for (let key = r.next(); key; key = r.next()) {
    if (key.field !== 1) {
      r.skip(key.wire);
      continue;
    }
    r.expect(key, WIRE_BYTES, 'TensorShapeProto.dim');
    if (dims.length >= MAX_RANK) throw invalidOnnx(`a value has more than ${MAX_RANK} dimensions`);
    const d = r.message();
    let dim: number | string | null = null;
    for (let k = d.next(); k; k = d.next()) {
      if (k.field === 1 && k.wire === WIRE_VARINT) dim = d.int64();
      else if (k.field === 2 && k.wire === WIRE_BYTES) dim = d.string();
      else d.skip(k.wire);
    }
    dims.push(dim);
  }
  return dims;
}

function readValueInfo(r: ProtoReader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '', elemType: 0, dims: null };
  for (let key = r.next(); key; key = r.next()) {
    if (key.field === 1 && key.wire === WIRE_BYTES) info.name = r.string();
    else if (key.field === 2 && key.wire === WIRE_BYTES) {
      const type = r.message();
      for (let k = type.next(); k; k = type.next()) {
        if (k.field !== 1 || k.wire !== WIRE_BYTES) {
          type.skip(k.wire); // sequence, map, optional, sparse types: not tensors
          continue;
        }
        const tensor = type.message();
        for (let t = tensor.next(); t; t = tensor.next()) {
          if (t.field === 1 && t.wire === WIRE_VARINT) info.elemType = tensor.varint();
          else if (t.field === 2 && t.wire === WIRE_BYTES) info.dims = readShape(tensor.message());
          else tensor.skip(t.wire);
        }
      }
    } else r.skip(key.wire);
  }
  return info;
}

function readGraph(r: ProtoReader): OnnxGraph {
  const graph: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [] };
  for (let key = r.next(); key; key = r.next()) {
    switch (key.field) {
      case 1:
        r.expect(key, WIRE_BYTES, 'GraphProto.node');
        graph.nodes.push(readNode(r.message()));
        break;
      case 2:
        r.expect(key, WIRE_BYTES, 'GraphProto.name');
        graph.name = r.string();
        break;
      case 5:
        r.expect(key, WIRE_BYTES, 'GraphProto.initializer');
        graph.initializers.push(readTensor(r.message()));
        break;
      case 11:
        r.expect(key, WIRE_BYTES, 'GraphProto.input');
        graph.inputs.push(readValueInfo(r.message()));
        break;
      case 12:
        r.expect(key, WIRE_BYTES, 'GraphProto.output');
        graph.outputs.push(readValueInfo(r.message()));
        break;
      case 15:
        throw invalidOnnx('the graph has sparse initializers, which are not supported');
      default:
        r.skip(key.wire);
    }
  }
  return graph;
}

/** ModelProto keys a file may start with: fields 1–8 and 14 with their wire types. */
const MODEL_FIRST_KEYS = new Set([0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72]);

/**
 * Whether bytes look like an ONNX ModelProto rather than model.json: the first byte is a ModelProto field key
 * (ir_version, 0x08, in every exporter's output), which no JSON text starts with.
 */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.length > 0 && MODEL_FIRST_KEYS.has(bytes[0]);
}

/**
 * Decodes an ONNX ModelProto.
 * @throws EngineError('invalid_model') for bytes that are not a well-formed ModelProto with a graph
 */
export function readOnnxModel(bytes: Uint8Array): OnnxModel {
  const r = new ProtoReader(bytes);
  let irVersion = 0;
  let producer = '';
  let graph: OnnxGraph | undefined;
  let opset = 0;
  const otherDomains: string[] = [];
  for (let key = r.next(); key; key = r.next()) {
    switch (key.field) {
      case 1:
        r.expect(key, WIRE_VARINT, 'ModelProto.ir_version');
        irVersion = r.varint();
        break;
      case 2:
        r.expect(key, WIRE_BYTES, 'ModelProto.producer_name');
        producer = r.string();
        break;
      case 7:
        r.expect(key, WIRE_BYTES, 'ModelProto.graph');
        if (graph) throw invalidOnnx('the model has two graphs');
        graph = readGraph(r.message());
        break;
      case 8: {
        r.expect(key, WIRE_BYTES, 'ModelProto.opset_import');
        const o = r.message();
        let domain = '';
        let version = 0;
        for (let k = o.next(); k; k = o.next()) {
          if (k.field === 1 && k.wire === WIRE_BYTES) domain = o.string();
          else if (k.field === 2 && k.wire === WIRE_VARINT) version = o.varint();
          else o.skip(k.wire);
        }
        if (domain === '' || domain === 'ai.onnx') opset = version;
        else otherDomains.push(domain);
        break;
      }
      default:
        r.skip(key.wire);
    }
  }
  if (!graph) throw invalidOnnx('the file holds no graph (is it an ONNX model?)');
  return { irVersion, opset, otherDomains, producer, graph };
}
