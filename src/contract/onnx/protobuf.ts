/**
 * A bounded reader of the protobuf wire format (tf-free), for ONNX files from untrusted callers: every length is
 * checked against the bytes that remain before anything is read or allocated, messages nest at most
 * {@link MAX_DEPTH} levels, groups (wire types 3/4) are refused, and varints are at most 10 bytes. Errors are
 * EngineError('invalid_model') naming the byte offset.
 */
import { EngineError } from '../errors.js';

/** Deepest message nesting read (ModelProto → GraphProto → NodeProto → AttributeProto → TensorProto is 5). */
export const MAX_DEPTH = 16;

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export function invalidOnnx(message: string): EngineError {
  return new EngineError('invalid_model', `Invalid ONNX model: ${message}`);
}

export interface FieldKey {
  field: number;
  wire: number;
  /** Offset of the key in the whole buffer, for messages. */
  at: number;
}

/** One message's bytes [start, end) of a buffer, read front to back. */
export class ProtoReader {
  private pos: number;

  constructor(
    readonly bytes: Uint8Array,
    private readonly start = 0,
    readonly end = bytes.length,
    readonly depth = 0,
  ) {
    if (depth > MAX_DEPTH)
      throw invalidOnnx(`messages nest more than ${MAX_DEPTH} levels deep (at byte ${start})`);
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  /** The next field's key, or null at the end of the message. */
  next(): FieldKey | null {
    if (this.pos >= this.end) return null;
    const at = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field < 1) throw invalidOnnx(`field number 0 at byte ${at}`);
    if (wire === 3 || wire === 4 || wire > 5)
      throw invalidOnnx(`unsupported wire type ${wire} at byte ${at}`);
    return { field, wire, at };
  }

  /** An unsigned varint as a number (exact below 2^53; larger values lose precision, never wrap). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw invalidOnnx(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw invalidOnnx(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** A varint read as a two's-complement int64 (ONNX writes −1 as 2^64 − 1). */
  int64(): number {
    const start = this.pos;
    const unsigned = this.varint();
    if (unsigned < 2 ** 63) return unsigned;
    // Negative: re-read exactly with BigInt (rare: negative axes).
    this.pos = start;
    let big = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.bytes[this.pos++];
      big |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) break;
    }
    return Number(BigInt.asIntN(64, big));
  }

  /** The length prefix of a length-delimited field, checked against the bytes that remain. */
  length(): number {
    const at = this.pos;
    const n = this.varint();
    if (n > this.end - this.pos) {
      throw invalidOnnx(
        `a field at byte ${at} declares ${n} bytes but only ${this.end - this.pos} remain in its message`,
      );
    }
    return n;
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytesField(): Uint8Array {
    const n = this.length();
    const view = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  string(): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytesField());
    } catch (e) {
      if ((e as Error).name === 'EngineError') throw e;
      throw invalidOnnx(`a string field before byte ${this.pos} is not valid UTF-8`);
    }
  }

  /** A nested message, one level deeper. */
  message(): ProtoReader {
    const n = this.length();
    const sub = new ProtoReader(this.bytes, this.pos, this.pos + n, this.depth + 1);
    this.pos += n;
    return sub;
  }

  fixed32(): DataView {
    if (this.end - this.pos < 4) throw invalidOnnx(`truncated fixed32 at byte ${this.pos}`);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4);
    this.pos += 4;
    return view;
  }

  fixed64(): DataView {
    if (this.end - this.pos < 8) throw invalidOnnx(`truncated fixed64 at byte ${this.pos}`);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8);
    this.pos += 8;
    return view;
  }

  float(): number {
    return this.fixed32().getFloat32(0, true);
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.fixed64();
        return;
      case WIRE_FIXED32:
        this.fixed32();
        return;
      case WIRE_BYTES: {
        const n = this.length();
        this.pos += n;
        return;
      }
      default:
        throw invalidOnnx(`unsupported wire type ${wire} at byte ${this.pos}`);
    }
  }

  /** A repeated int64 field, packed (one length-delimited run) or not (one value), appended to `out`. */
  int64s(wire: number, out: number[], limit: number): void {
    if (wire === WIRE_VARINT) {
      if (out.length >= limit) throw invalidOnnx(`more than ${limit} integers in one field`);
      out.push(this.int64());
      return;
    }
    if (wire !== WIRE_BYTES) throw invalidOnnx(`integers with wire type ${wire} at byte ${this.pos}`);
    const n = this.length();
    const sub = new ProtoReader(this.bytes, this.pos, this.pos + n, this.depth + 1);
    while (sub.offset < sub.end) {
      if (out.length >= limit) throw invalidOnnx(`more than ${limit} integers in one field`);
      out.push(sub.int64());
    }
    this.pos = sub.end;
  }

  /** A repeated float field, packed or not, appended to `out`. */
  floats(wire: number, out: number[], limit: number): void {
    if (wire === WIRE_FIXED32) {
      if (out.length >= limit) throw invalidOnnx(`more than ${limit} floats in one field`);
      out.push(this.float());
      return;
    }
    if (wire !== WIRE_BYTES) throw invalidOnnx(`floats with wire type ${wire} at byte ${this.pos}`);
    const n = this.length();
    if (n % 4 !== 0) throw invalidOnnx(`packed floats of ${n} bytes at byte ${this.pos}`);
    if (out.length + n / 4 > limit) throw invalidOnnx(`more than ${limit} floats in one field`);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    for (let i = 0; i < n; i += 4) out.push(view.getFloat32(i, true));
    this.pos += n;
  }

  /** A repeated double field, packed or not. */
  doubles(wire: number, out: number[], limit: number): void {
    if (wire === WIRE_FIXED64) {
      if (out.length >= limit) throw invalidOnnx(`more than ${limit} doubles in one field`);
      out.push(this.fixed64().getFloat64(0, true));
      return;
    }
    if (wire !== WIRE_BYTES) throw invalidOnnx(`doubles with wire type ${wire} at byte ${this.pos}`);
    const n = this.length();
    if (n % 8 !== 0) throw invalidOnnx(`packed doubles of ${n} bytes at byte ${this.pos}`);
    if (out.length + n / 8 > limit) throw invalidOnnx(`more than ${limit} doubles in one field`);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    for (let i = 0; i < n; i += 8) out.push(view.getFloat64(i, true));
    this.pos += n;
  }

  /** Requires a wire type, else the file does not follow the schema. */
  expect(key: FieldKey, wire: number, what: string): void {
    if (key.wire !== wire) throw invalidOnnx(`${what} has wire type ${key.wire} at byte ${key.at}`);
  }
}
