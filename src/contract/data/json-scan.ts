/**
 * JSON text straight to typed arrays: no `JSON.parse`, no JS value tree, no recursion. Two linear passes over the
 * bytes, so that the output is allocated once at its exact size: reading a 100 MB upload of nested numbers takes,
 * besides the input, only the typed arrays themselves (in the target dtype), never a growing buffer or a copy.
 *
 * 1. The first pass checks the whole document: syntax, nesting, shapes, leaf types, whole numbers for integer
 *    dtypes, `maxDepth` and `maxElements`, in the order and with the messages of a single reading. It converts a
 *    number only when a check or a message needs its value, and records each array's dtype, shape, length and
 *    byte span. Then `maxOutputBytes` is checked against the exact sizes, before anything is allocated.
 * 2. The second pass allocates each array and fills it from its span, which is known to hold only brackets,
 *    commas, whitespace and leaves.
 *
 * The arrays read the same as {@link parseJsonArray} reads `JSON.parse`'s output (dtype, shape, values and error
 * messages). The shape is fixed by the first row along each axis, then every row is checked as it ends against an
 * explicit stack of counters; numbers are converted exactly as `JSON.parse` converts them.
 */
import { Buffer } from 'node:buffer';
import { EngineError } from '../errors.js';
import type { DType, NdArray, TypedArray } from '../ndarray.js';
import type { JsonArrayOptions } from './json-array.js';
import { formatPosition } from './positions.js';

/** Options for {@link scanJsonArray} and {@link scanJsonArrays}. */
export interface JsonScanOptions {
  /** What the document is called in error messages (e.g. the file name); also the array's name for a bare array. */
  name: string;
  /**
   * The dtype numeric leaves are stored as, as in {@link JsonArrayOptions}; boolean arrays are always `bool`.
   * @defaultValue 'float64'
   */
  dtype?: JsonArrayOptions['dtype'];
  /**
   * The deepest nesting of arrays (and objects) accepted; deeper input is refused as soon as it is seen.
   * @defaultValue 32
   */
  maxDepth?: number;
  /**
   * The most leaves (numbers or booleans) accepted in the whole document; one more is refused as soon as it is seen.
   * @defaultValue unlimited
   */
  maxElements?: number;
  /**
   * The most bytes the decoded arrays may take in all (elements times the bytes of their dtype: 8 for float64 and
   * int64, 4 for float32 and int32, 1 for bool). Checked once the whole document has been read and counted, before
   * any array is allocated.
   * @defaultValue unlimited
   */
  maxOutputBytes?: number;
  /**
   * For {@link scanJsonArrays}: the only keys accepted; any other key is refused before its value is read. A key
   * ending in `.*` accepts any key with that prefix and a non-empty rest (`inputs.*` accepts `inputs.image`).
   * @defaultValue any key
   */
  keys?: readonly string[];
}

const DEFAULT_MAX_DEPTH = 32;
/** Object keys are names such as `inputs`; a longer key is refused as soon as it is this long. */
const MAX_KEY_LENGTH = 256;
/** How much of a misplaced string an error message quotes, as json-array.ts does. */
const QUOTED_STRING_LENGTH = 20;

/**
 * Reads a JSON document holding one nested array of numbers (or of booleans), or a bare number or boolean (0-d).
 * Equivalent to `parseJsonArray(JSON.parse(text), options.name, options)`, without building the JS value.
 *
 * @param bytes - the JSON text, UTF-8 (a leading byte-order mark is skipped, as `TextDecoder` does).
 * @throws EngineError('invalid_array') for text that is not JSON (the message gives the byte offset and, inside the
 *   array, the position), a top-level object, nesting deeper than `maxDepth`, and everything
 *   {@link parseJsonArray} refuses (ragged nesting, non-numeric leaves, mixed numbers and booleans, non-whole
 *   numbers for an integer dtype), with its messages.
 * @throws EngineError('too_large') when the document holds more than `maxElements` leaves, or the array would take
 *   more than `maxOutputBytes`.
 */
export function scanJsonArray(bytes: Uint8Array, options: JsonScanOptions): NdArray {
  const scanner = new JsonScanner(bytes, options);
  scanner.skipByteOrderMark();
  scanner.skipWhitespace();
  if (scanner.peek() === OPEN_BRACE) {
    throw new EngineError(
      'invalid_array',
      `${options.name}: holds a JSON object; expected a nested array of numbers`,
      { offset: scanner.pos },
    );
  }
  const array = scanner.scanArray(options.name);
  scanner.expectEnd();
  scanner.checkOutputBytes([array]);
  return scanner.fill(array);
}

/**
 * Reads a JSON object whose values are nested arrays of numbers (or of booleans), or bare numbers or booleans, such as
 * `{"inputs": [[1, 2], [3, 4]], "targets": [0, 1]}`. Each value is read as {@link scanJsonArray} reads a
 * whole document, named by its key in error messages (`inputs[1, 0] is null; ...`).
 *
 * @returns the arrays in document order, keyed by the (unescaped) keys.
 * @throws EngineError('invalid_array') for text that is not JSON, a top level that is not an object, a key that
 *   appears twice, is longer than 256 characters or (with `keys`) is not expected, a value that is not such an
 *   array (objects, strings, null), and everything {@link scanJsonArray} refuses.
 * @throws EngineError('too_large') when the document holds more than `maxElements` leaves in all, or the arrays
 *   would take more than `maxOutputBytes` in all.
 */
export function scanJsonArrays(bytes: Uint8Array, options: JsonScanOptions): Map<string, NdArray> {
  const { name, keys } = options;
  const scanner = new JsonScanner(bytes, options);
  scanner.skipByteOrderMark();
  scanner.skipWhitespace();
  if (scanner.peek() !== OPEN_BRACE) {
    const found = describeBareValue(scanner.peek());
    if (found === undefined) scanner.syntaxError(`'{'`);
    throw new EngineError(
      'invalid_array',
      `${name}: expected a JSON object of arrays such as {"inputs": [...], "targets": [...]}, found ${found}`,
      { offset: scanner.pos },
    );
  }
  scanner.pos++;
  const arrays = new Map<string, ScannedArray>();
  scanner.skipWhitespace();
  if (scanner.peek() === CLOSE_BRACE) {
    scanner.pos++;
  } else {
    for (;;) {
      const keyOffset = scanner.pos;
      if (scanner.peek() !== QUOTE) scanner.syntaxError('a key (a string in double quotes)');
      const key = scanner.readString(MAX_KEY_LENGTH, MAX_KEY_LENGTH).text;
      if (arrays.has(key)) {
        throw new EngineError(
          'invalid_array',
          `${name}: key ${JSON.stringify(key)} appears twice (the second time at byte ${keyOffset})`,
          { key, offset: keyOffset },
        );
      }
      if (
        keys &&
        !keys.some(
          (k) =>
            k === key || (k.endsWith('.*') && key.length > k.length - 1 && key.startsWith(k.slice(0, -1))),
        )
      ) {
        throw new EngineError(
          'invalid_array',
          `${name}: unexpected key ${JSON.stringify(key)} at byte ${keyOffset}; expected ${keys.map((k) => JSON.stringify(k)).join(', ')}`,
          { key, offset: keyOffset },
        );
      }
      scanner.skipWhitespace();
      if (scanner.peek() !== COLON) scanner.syntaxError(`':' after key ${JSON.stringify(key)}`);
      scanner.pos++;
      scanner.skipWhitespace();
      arrays.set(key, scanner.scanArray(key));
      scanner.skipWhitespace();
      const c = scanner.peek();
      if (c !== COMMA && c !== CLOSE_BRACE) {
        scanner.syntaxError(`',' or '}' after the value of ${JSON.stringify(key)}`);
      }
      scanner.pos++;
      if (c === CLOSE_BRACE) break;
      scanner.skipWhitespace();
    }
  }
  scanner.expectEnd();
  scanner.checkOutputBytes(arrays.values());
  const filled = new Map<string, NdArray>();
  for (const [key, array] of arrays) filled.set(key, scanner.fill(array));
  return filled;
}

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const LOWER_F = 0x66;
const LOWER_T = 0x74;
const END = -1;

/** 10^0 .. 10^22: the powers of ten a double holds exactly (Clinger's fast path). */
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/** Significant digits a double holds exactly (10^15 < 2^53). */
const EXACT_DIGITS = 15;

const NUMBER = 1;
const BOOLEAN = 2;
type Leaf = number | boolean;

/** The first mixed-type or non-whole leaf, reported after the whole array, as parseJsonArray does. */
interface DeferredLeafError {
  index: number[];
  leaf: Leaf;
}

/** What the first pass learns of one array: enough to allocate it exactly and fill it from its bytes. */
interface ScannedArray {
  dtype: DType;
  shape: number[];
  /** Its number of leaves. */
  length: number;
  /** Its byte span in the document: `start` is its first byte, `end` one past its last. */
  start: number;
  end: number;
}

const BYTES_PER_ELEMENT: Record<DType, number> = {
  float64: 8,
  int64: 8,
  float32: 4,
  int32: 4,
  uint8: 1,
  bool: 1,
};

function allocate(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float64':
      return new Float64Array(length);
    case 'float32':
      return new Float32Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'uint8':
    case 'bool':
      return new Uint8Array(length);
  }
}

function isWhole(value: number, dtype: NonNullable<JsonArrayOptions['dtype']>): boolean {
  if (dtype === 'int32') return Number.isInteger(value) && value >= -(2 ** 31) && value <= 2 ** 31 - 1;
  if (dtype === 'int64') return Number.isSafeInteger(value);
  return true;
}

/**
 * The cursor over the bytes and the pieces of JSON grammar. Every loop is iterative and every stack is bounded by
 * `maxDepth`, so no input can exhaust the call stack.
 */
class JsonScanner {
  pos = 0;
  private readonly length: number;
  private readonly source: string;
  private readonly dtype: NonNullable<JsonArrayOptions['dtype']>;
  private readonly maxDepth: number;
  private readonly maxElements: number;
  private readonly maxOutputBytes: number;
  private elements = 0;
  /** Latin-1 view of the same memory, to hand number literals to `Number()` without copying the input. */
  private readonly text: Buffer;

  constructor(
    private readonly bytes: Uint8Array,
    options: JsonScanOptions,
  ) {
    this.length = bytes.length;
    this.source = options.name;
    this.dtype = options.dtype ?? 'float64';
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxElements = options.maxElements ?? Infinity;
    this.maxOutputBytes = options.maxOutputBytes ?? Infinity;
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  peek(): number {
    return this.pos < this.length ? this.bytes[this.pos] : END;
  }

  skipByteOrderMark(): void {
    const b = this.bytes;
    if (this.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.pos = 3;
  }

  skipWhitespace(): void {
    const b = this.bytes;
    let p = this.pos;
    while (p < this.length) {
      const c = b[p];
      if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
      p++;
    }
    this.pos = p;
  }

  expectEnd(): void {
    this.skipWhitespace();
    if (this.pos < this.length) this.syntaxError('the end of the input');
  }

  /**
   * The first pass over one value: checks it as an array and measures it, leaving `pos` after it. `depth` rows are
   * open; each new value is an element of the innermost one, and leaves sit at depth `rank`, which the first leaf
   * (or first empty row) fixes. Numbers are only validated, not converted, unless a check or a message needs their
   * value: {@link fill} converts them.
   */
  scanArray(name: string): ScannedArray {
    const start = this.pos;
    const elementsBefore = this.elements;
    const rows = new Rows(name);
    let rank = -1;
    let depth = 0;
    let kind = 0;
    let firstLeaf: Leaf = 0;
    let mixed: DeferredLeafError | undefined;
    let notWhole: DeferredLeafError | undefined;
    const checkWhole = this.dtype === 'int32' || this.dtype === 'int64';

    values: for (;;) {
      const valueStart = this.pos;
      if (depth > 0 && rows.addElement(depth - 1)) {
        // The row is too long; failAtRows reads it to its end for its length (an outer row may be wrong too).
        this.failAtRows(rows, depth, true, () => rows.lengthError(depth - 1, rows.counts[depth - 1]));
      }
      const c = this.peek();
      if (c === OPEN_BRACKET) {
        if (rank >= 0 && depth >= rank) {
          this.failAtRows(rows, depth, true, () =>
            rows.elementError(
              depth,
              valueStart,
              `is an array, but ${rows.first(depth)} is not: the nesting is ragged`,
            ),
          );
        }
        if (depth >= this.maxDepth) this.tooDeep(name, 'arrays are');
        rows.open(depth, this.pos);
        depth++;
        this.pos++;
        this.skipWhitespace();
        if (this.peek() !== CLOSE_BRACKET) continue values;
        if (rank < 0) rank = depth;
        this.pos++;
        this.closeRow(rows, depth);
        depth--;
      } else {
        if (rank < 0) rank = depth;
        let leaf: Leaf;
        if (c === MINUS || (c >= ZERO && c <= NINE)) {
          // The value is needed for the whole-number check, and in a message: as the first leaf, as a number
          // among booleans, or as a leaf where an array should be.
          leaf = this.readNumber(checkWhole || kind !== NUMBER || depth < rank);
        } else if (c === LOWER_T && this.matchLiteral('true')) leaf = true;
        else if (c === LOWER_F && this.matchLiteral('false')) leaf = false;
        else {
          const what = this.describeNonLeaf(rows, depth);
          const why =
            depth < rank
              ? `, but ${rows.first(depth)} is an array: the nesting is ragged`
              : '; only numbers (or booleans) are allowed';
          this.failAtRows(rows, depth, c === OPEN_BRACE, () =>
            rows.elementError(depth, valueStart, `is ${what}${why}`),
          );
        }
        if (depth < rank) {
          this.failAtRows(rows, depth, false, () =>
            rows.elementError(
              depth,
              valueStart,
              `is ${describeLeaf(leaf)}, but ${rows.first(depth)} is an array: the nesting is ragged`,
            ),
          );
        }
        if (++this.elements > this.maxElements) this.tooManyElements(valueStart);
        const leafKind = typeof leaf === 'boolean' ? BOOLEAN : NUMBER;
        if (kind === 0) {
          kind = leafKind;
          firstLeaf = leaf;
        }
        if (leafKind !== kind) {
          mixed ??= { index: rows.index(depth), leaf };
        } else if (
          checkWhole &&
          !mixed &&
          !notWhole &&
          kind === NUMBER &&
          !isWhole(leaf as number, this.dtype)
        ) {
          notWhole = { index: rows.index(depth), leaf };
        }
      }
      // After a value: close finished rows until one continues with ','.
      for (;;) {
        if (depth === 0) break values;
        this.skipWhitespace();
        const next = this.peek();
        if (next === COMMA) {
          this.pos++;
          this.skipWhitespace();
          continue values;
        }
        if (next !== CLOSE_BRACKET) this.syntaxError(`',' or ']' after ${rows.position(depth)}`);
        this.pos++;
        this.closeRow(rows, depth);
        depth--;
      }
    }

    // Checked last, after the whole array, as parseJsonArray does.
    if (mixed) {
      throw new EngineError(
        'invalid_array',
        `${formatPosition(name, mixed.index)} is ${describeLeaf(mixed.leaf)} but ${rows.first(rank)} is ${describeLeaf(firstLeaf)}: an array must be all numbers or all booleans`,
        { array: name, index: mixed.index },
      );
    }
    if (notWhole) {
      throw new EngineError(
        'invalid_array',
        `${formatPosition(name, notWhole.index)} is ${String(notWhole.leaf)}; expected a whole number for ${this.dtype}`,
        { array: name, index: notWhole.index },
      );
    }
    return {
      dtype: kind === BOOLEAN ? 'bool' : this.dtype,
      shape: rows.shape.slice(0, rank),
      length: this.elements - elementsBefore,
      start,
      end: this.pos,
    };
  }

  /**
   * Refuses arrays whose decoded size exceeds `maxOutputBytes`: run after the first pass, before {@link fill}.
   * @throws EngineError('too_large')
   */
  checkOutputBytes(arrays: Iterable<ScannedArray>): void {
    let outputBytes = 0;
    for (const array of arrays) outputBytes += array.length * BYTES_PER_ELEMENT[array.dtype];
    if (outputBytes > this.maxOutputBytes) {
      throw new EngineError(
        'too_large',
        `${this.source}: the arrays would take ${outputBytes} bytes decoded, more than the ${this.maxOutputBytes} bytes accepted (the limit)`,
        { outputBytes, maxOutputBytes: this.maxOutputBytes },
      );
    }
  }

  /**
   * The second pass: allocates the array scanned by {@link scanArray} at its exact size and converts its leaves.
   * Its span holds only brackets, commas, whitespace and valid leaves of its one kind, so a leaf starts at every
   * `-`, digit, `t` or `f`, and nothing needs checking again.
   */
  fill({ dtype, shape, length, start, end }: ScannedArray): NdArray {
    const data = allocate(dtype, length);
    const b = this.bytes;
    let i = 0;
    if (dtype === 'bool') {
      for (let p = start; p < end; p++) {
        const c = b[p];
        if (c === LOWER_T) {
          data[i++] = 1;
          p += 'true'.length - 1;
        } else if (c === LOWER_F) {
          i++; // already 0
          p += 'false'.length - 1;
        }
      }
      return { dtype, shape, data };
    }
    // Separate loops keep each store site to one or two element types, and BigInt() out of the others.
    let p = start;
    if (data instanceof BigInt64Array) {
      while (p < end) {
        const c = b[p];
        if (c === MINUS || (c >= ZERO && c <= NINE)) {
          data[i++] = BigInt(this.convertNumber(p, end));
          p = this.pos;
        } else p++;
      }
    } else if (data instanceof Float64Array) {
      while (p < end) {
        const c = b[p];
        if (c === MINUS || (c >= ZERO && c <= NINE)) {
          data[i++] = this.convertNumber(p, end);
          p = this.pos;
        } else p++;
      }
    } else {
      const out = data as Float32Array | Int32Array;
      while (p < end) {
        const c = b[p];
        if (c === MINUS || (c >= ZERO && c <= NINE)) {
          out[i++] = this.convertNumber(p, end);
          p = this.pos;
        } else p++;
      }
    }
    return { dtype, shape, data };
  }

  /**
   * Converts the valid number literal at `p` (which ends by `end`) and leaves `pos` after it: the short decimals
   * that make up most uploads (`-12.375`: at most 15 digits, no exponent) here, anything else by {@link readNumber}.
   */
  private convertNumber(p: number, end: number): number {
    const b = this.bytes;
    const start = p;
    const negative = b[p] === MINUS;
    if (negative) p++;
    let mantissa = 0;
    let c = 0;
    while (p < end && (c = b[p]) >= ZERO && c <= NINE) {
      mantissa = mantissa * 10 + (c - ZERO);
      p++;
    }
    let digits = p - start - (negative ? 1 : 0);
    let scale = 0;
    if (p < end && c === DOT) {
      const fractionStart = ++p;
      while (p < end && (c = b[p]) >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        p++;
      }
      scale = fractionStart - p;
      digits -= scale;
    }
    // Leading zeros ("0.001") count as digits here, which only sends a few more numbers the slow way.
    if (digits > EXACT_DIGITS || (p < end && (c | 0x20) === 0x65) /* e E */) {
      this.pos = start;
      return this.readNumber(true);
    }
    this.pos = p;
    const magnitude = scale < 0 ? mantissa / EXACT_POWERS_OF_TEN[-scale] : mantissa;
    return negative ? -magnitude : magnitude;
  }

  /** The row at level `depth - 1` has just ended with ']': the first row at its level fixes the shape. */
  private closeRow(rows: Rows, depth: number): void {
    const level = depth - 1;
    const length = rows.counts[level];
    if (rows.shape[level] < 0) rows.shape[level] = length;
    else if (length !== rows.shape[level]) {
      const error = rows.lengthError(level, length);
      this.failAtRows(rows, level, false, () => error);
    }
  }

  /**
   * Throws the error parseJsonArray reports for this array. It checks a row's length before the row's elements,
   * so a wrong-length row among the `open` rows still open beats `otherwise` (an error found inside them); their
   * lengths are only known at their ends, so this reads ahead (without storing) to those ends. `pending` says the
   * offending value has not been read yet.
   */
  private failAtRows(rows: Rows, open: number, pending: boolean, otherwise: () => Error): never {
    const lengths = rows.counts.slice(0, open);
    if (pending) this.skipValue(open);
    // The outermost row (level 0) has nothing to match; every other open row is read to its end.
    for (let level = open - 1; level >= 1; level--) {
      for (;;) {
        this.skipWhitespace();
        const c = this.peek();
        if (c === CLOSE_BRACKET) break;
        if (c !== COMMA) this.syntaxError(`',' or ']'`);
        this.pos++;
        lengths[level]++;
        this.skipValue(level + 1);
      }
      this.pos++;
    }
    for (let level = 1; level < open; level++) {
      if (rows.shape[level] >= 0 && lengths[level] !== rows.shape[level]) {
        throw rows.lengthError(level, lengths[level]);
      }
    }
    throw otherwise();
  }

  /**
   * Reads past one JSON value of any kind, validating it, with an explicit stack of the open containers.
   * @param depth - how many containers are already open around it (for `maxDepth`).
   */
  private skipValue(depth: number): void {
    const closers: number[] = [];
    for (;;) {
      this.skipWhitespace();
      const c = this.peek();
      if (c === OPEN_BRACKET || c === OPEN_BRACE) {
        if (depth + closers.length >= this.maxDepth) this.tooDeep(this.source, 'arrays and objects are');
        closers.push(c === OPEN_BRACKET ? CLOSE_BRACKET : CLOSE_BRACE);
        this.pos++;
        this.skipWhitespace();
        if (this.peek() === closers[closers.length - 1]) {
          this.pos++;
          closers.pop();
        } else {
          if (c === OPEN_BRACE) this.skipKey();
          continue;
        }
      } else if (c === QUOTE) this.readString(0);
      else if (c === MINUS || (c >= ZERO && c <= NINE)) this.readNumber(false);
      else if (!(this.matchLiteral('true') || this.matchLiteral('false') || this.matchLiteral('null'))) {
        this.syntaxError('a value');
      }
      // After a value: close containers until one continues with ','.
      for (;;) {
        if (closers.length === 0) return;
        this.skipWhitespace();
        const next = this.peek();
        if (next === COMMA) {
          this.pos++;
          if (closers[closers.length - 1] === CLOSE_BRACE) {
            this.skipWhitespace();
            this.skipKey();
          }
          break;
        }
        if (next !== closers[closers.length - 1]) {
          this.syntaxError(`',' or '${String.fromCharCode(closers[closers.length - 1])}'`);
        }
        this.pos++;
        closers.pop();
      }
    }
  }

  /** Reads `"key" :` inside an object being skipped. */
  private skipKey(): void {
    if (this.peek() !== QUOTE) this.syntaxError('a key (a string in double quotes)');
    this.readString(0);
    this.skipWhitespace();
    if (this.peek() !== COLON) this.syntaxError(`':' after a key`);
    this.pos++;
  }

  /** What a value that cannot be a leaf is, for messages; reads it unless it is an object or array. */
  private describeNonLeaf(rows: Rows, depth: number): string {
    const c = this.peek();
    if (c === OPEN_BRACE) return 'an object';
    if (c === 0x6e /* n */ && this.matchLiteral('null')) return 'null';
    if (c === QUOTE) {
      const { text, truncated } = this.readString(QUOTED_STRING_LENGTH + 1);
      return `a string (${JSON.stringify(truncated ? text.slice(0, QUOTED_STRING_LENGTH) + '…' : text)})`;
    }
    const where = depth > 0 ? ` at ${rows.position(depth)}` : '';
    if (c === 0x4e /* N */ || c === 0x49 /* I */) {
      this.syntaxError(`a value${where} (NaN and Infinity are not JSON numbers)`);
    }
    this.syntaxError(`a value${where}`);
  }

  /** Consumes `literal` if it is next. */
  private matchLiteral(literal: string): boolean {
    if (this.pos + literal.length > this.length) return false;
    for (let i = 0; i < literal.length; i++) {
      if (this.bytes[this.pos + i] !== literal.charCodeAt(i)) return false;
    }
    this.pos += literal.length;
    return true;
  }

  /**
   * Reads a number by the JSON grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. Up to 15 significant
   * digits scaled by at most 10^±22 are converted directly, which is exact (both operands are exact doubles and the
   * one multiplication or division rounds correctly); anything else goes through `Number()`, as `JSON.parse` does.
   * @param convert - false to only validate it (and return NaN), sparing the slow `Number()` path.
   */
  readNumber(convert: boolean): number {
    const b = this.bytes;
    const start = this.pos;
    let p = start;
    const negative = b[p] === MINUS;
    if (negative) p++;
    let mantissa = 0;
    let digits = 0;
    let scale = 0;
    let c = p < this.length ? b[p] : END;
    if (c === ZERO) {
      p++;
      if (p < this.length && b[p] >= ZERO && b[p] <= NINE) {
        this.pos = p;
        this.syntaxError(`a number without leading zeros`);
      }
    } else if (c > ZERO && c <= NINE) {
      while (p < this.length && (c = b[p]) >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        p++;
      }
    } else {
      this.pos = p;
      this.syntaxError(
        c === 0x49 /* I */ ? `a digit after '-' (Infinity is not a JSON number)` : `a digit after '-'`,
      );
    }
    if (p < this.length && b[p] === DOT) {
      p++;
      const fractionStart = p;
      while (p < this.length && (c = b[p]) >= ZERO && c <= NINE) {
        if (digits > 0 || c !== ZERO) {
          mantissa = mantissa * 10 + (c - ZERO);
          digits++;
        }
        scale--;
        p++;
      }
      if (p === fractionStart) {
        this.pos = p;
        this.syntaxError(`a digit after the decimal point`);
      }
    }
    if (p < this.length && (b[p] === 0x65 || b[p] === 0x45) /* e E */) {
      p++;
      let exponentNegative = false;
      if (p < this.length && (b[p] === PLUS || b[p] === MINUS)) exponentNegative = b[p++] === MINUS;
      const exponentStart = p;
      let exponent = 0;
      while (p < this.length && (c = b[p]) >= ZERO && c <= NINE) {
        if (exponent < 1e6) exponent = exponent * 10 + (c - ZERO);
        p++;
      }
      if (p === exponentStart) {
        this.pos = p;
        this.syntaxError(`a digit in the exponent`);
      }
      scale += exponentNegative ? -exponent : exponent;
    }
    this.pos = p;
    if (!convert) return NaN;
    if (digits <= EXACT_DIGITS && scale >= -22 && scale <= 22) {
      const magnitude =
        scale < 0 ? mantissa / EXACT_POWERS_OF_TEN[-scale] : mantissa * EXACT_POWERS_OF_TEN[scale];
      return negative ? -magnitude : magnitude;
    }
    return Number(this.text.toString('latin1', start, p));
  }

  /**
   * Reads a JSON string, validating escapes and UTF-8. Returns its first `keep` UTF-16 code units (as JS would
   * index the string) and whether there were more.
   * @param maxLength - refuses the string as soon as it is longer (in UTF-16 code units).
   */
  readString(keep: number, maxLength = Infinity): { text: string; truncated: boolean } {
    const b = this.bytes;
    const start = this.pos;
    const units: number[] = [];
    let count = 0;
    const add = (unit: number) => {
      if (count < keep) units.push(unit);
      if (++count > maxLength) {
        throw new EngineError(
          'invalid_array',
          `${this.source}: the key at byte ${start} is longer than ${maxLength} characters`,
          { offset: start },
        );
      }
    };
    this.pos++;
    for (;;) {
      if (this.pos >= this.length)
        this.syntaxError(`the closing '"' of the string that starts at byte ${start}`);
      const c = b[this.pos];
      if (c === QUOTE) {
        this.pos++;
        break;
      }
      if (c < 0x20) this.syntaxError(`a string character (control characters must be escaped)`);
      if (c === BACKSLASH) {
        add(this.readEscape());
      } else if (c < 0x80) {
        add(c);
        this.pos++;
      } else {
        const codePoint = this.readUtf8();
        if (codePoint > 0xffff) {
          add(0xd800 + ((codePoint - 0x10000) >> 10));
          add(0xdc00 + ((codePoint - 0x10000) & 0x3ff));
        } else add(codePoint);
      }
    }
    return { text: String.fromCharCode(...units), truncated: count > keep };
  }

  /** Reads `\x` at pos; returns the UTF-16 code unit it stands for. */
  private readEscape(): number {
    const b = this.bytes;
    const c = this.pos + 1 < this.length ? b[this.pos + 1] : END;
    this.pos += 2;
    switch (c) {
      case QUOTE:
      case BACKSLASH:
      case 0x2f /* / */:
        return c;
      case 0x62 /* b */:
        return 0x08;
      case 0x66 /* f */:
        return 0x0c;
      case 0x6e /* n */:
        return 0x0a;
      case 0x72 /* r */:
        return 0x0d;
      case 0x74 /* t */:
        return 0x09;
      case 0x75 /* u */: {
        let unit = 0;
        for (let i = 0; i < 4; i++) {
          const digit = this.pos < this.length ? hexValue(b[this.pos]) : -1;
          if (digit < 0) this.syntaxError(`four hex digits after '\\u'`);
          unit = unit * 16 + digit;
          this.pos++;
        }
        return unit;
      }
      default:
        this.pos -= 1;
        this.syntaxError(`an escape (one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX) after '\\'`);
    }
  }

  /** Reads one UTF-8 sequence starting with a byte >= 0x80, as a fatal `TextDecoder` accepts them. */
  private readUtf8(): number {
    const b = this.bytes;
    const lead = b[this.pos];
    let size: number;
    let low = 0x80;
    let high = 0xbf;
    let codePoint: number;
    if (lead >= 0xc2 && lead <= 0xdf) {
      size = 2;
      codePoint = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      size = 3;
      codePoint = lead & 0x0f;
      if (lead === 0xe0) low = 0xa0; // overlong
      if (lead === 0xed) high = 0x9f; // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      size = 4;
      codePoint = lead & 0x07;
      if (lead === 0xf0) low = 0x90; // overlong
      if (lead === 0xf4) high = 0x8f; // above U+10FFFF
    } else {
      return this.invalidUtf8();
    }
    for (let i = 1; i < size; i++) {
      const c = this.pos + i < this.length ? b[this.pos + i] : END;
      if (c < low || c > high) {
        this.pos += i;
        return this.invalidUtf8();
      }
      low = 0x80;
      high = 0xbf;
      codePoint = (codePoint << 6) | (c & 0x3f);
    }
    this.pos += size;
    return codePoint;
  }

  private invalidUtf8(): never {
    throw new EngineError(
      'invalid_array',
      `${this.source}: not valid JSON at byte ${this.pos}: invalid UTF-8 in a string`,
      { offset: this.pos },
    );
  }

  /** Throws for the byte at `pos`, naming what was expected there. */
  syntaxError(expected: string): never {
    throw new EngineError(
      'invalid_array',
      `${this.source}: not valid JSON at byte ${this.pos}: expected ${expected}, found ${describeByte(this.peek())}`,
      { offset: this.pos },
    );
  }

  private tooDeep(name: string, what: string): never {
    throw new EngineError(
      'invalid_array',
      `${name}: ${what} nested more than ${this.maxDepth} deep at byte ${this.pos} (the limit is ${this.maxDepth})`,
      { offset: this.pos, maxDepth: this.maxDepth },
    );
  }

  private tooManyElements(offset: number): never {
    throw new EngineError(
      'too_large',
      `${this.source}: more than ${this.maxElements} array elements (the limit), the next at byte ${offset}`,
      { offset, maxElements: this.maxElements },
    );
  }
}

/**
 * The stack of open rows of one array: `counts[l]` elements begun so far in the open row at level `l`, `starts[l]`
 * its byte offset, and `shape[l]` the length of the first row at that level (-1 until it ends).
 */
class Rows {
  readonly counts: number[] = [];
  readonly starts: number[] = [];
  readonly shape: number[] = [];

  constructor(readonly name: string) {}

  open(level: number, offset: number): void {
    this.counts[level] = 0;
    this.starts[level] = offset;
    if (this.shape.length === level) this.shape.push(-1);
  }

  /** Counts one more element in the row at `level`; true when that makes the row longer than its shape allows. */
  addElement(level: number): boolean {
    return ++this.counts[level] > this.shape[level] && this.shape[level] >= 0;
  }

  /** The index of the element being read at `depth` (of the row at level `depth - 1`). */
  index(depth: number): number[] {
    return this.counts.slice(0, depth).map((n) => n - 1);
  }

  /** `inputs[3, 1]`: that element as messages name it. */
  position(depth: number): string {
    return formatPosition(this.name, this.index(depth));
  }

  /** `inputs[0, 0]`: the element at this depth along the first row, which fixed the expected shape. */
  first(depth: number): string {
    return formatPosition(this.name, new Array<number>(depth).fill(0));
  }

  elementError(depth: number, offset: number, problem: string): EngineError {
    const index = this.index(depth);
    return new EngineError('invalid_array', `${formatPosition(this.name, index)} ${problem}`, {
      array: this.name,
      index,
      offset,
    });
  }

  /** The open row at `level` has `length` elements where the first row at its level has `shape[level]`. */
  lengthError(level: number, length: number): EngineError {
    const index = this.index(level);
    return new EngineError(
      'invalid_array',
      `${formatPosition(this.name, index)} has length ${length} but ${this.first(level)} has length ${this.shape[level]}: the nesting is ragged (every row must have the same length)`,
      { array: this.name, index, offset: this.starts[level] },
    );
  }
}

function describeLeaf(leaf: Leaf): string {
  return typeof leaf === 'boolean' ? `a boolean (${leaf})` : `a number (${leaf})`;
}

/** What a top-level value starting with `c` is, or undefined when it cannot start a JSON value. */
function describeBareValue(c: number): string | undefined {
  if (c === OPEN_BRACKET) return 'an array';
  if (c === QUOTE) return 'a string';
  if (c === MINUS || (c >= ZERO && c <= NINE)) return 'a number';
  if (c === 0x74 /* t */ || c === 0x66 /* f */) return 'a boolean';
  if (c === 0x6e /* n */) return 'null';
  return undefined;
}

function describeByte(c: number): string {
  if (c === END) return 'the end of the input';
  if (c > 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function hexValue(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
