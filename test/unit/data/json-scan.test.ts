import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonArray, type JsonArrayOptions } from '../../../src/contract/data/json-array.js';
import { scanJsonArray, scanJsonArrays, type JsonScanOptions } from '../../../src/contract/data/json-scan.js';
import { EngineError } from '../../../src/contract/errors.js';
import type { NdArray } from '../../../src/contract/ndarray.js';
import { assertEngineError } from '../../helpers/engine-error.js';

type Dtype = JsonArrayOptions['dtype'];
const DTYPES: Dtype[] = [undefined, 'float32', 'float64', 'int32', 'int64'];

const utf8 = (text: string) => new TextEncoder().encode(text);
const scan = (text: string | Uint8Array, options: Partial<JsonScanOptions> = {}) =>
  scanJsonArray(typeof text === 'string' ? utf8(text) : text, { name: 'x', ...options });
const scanAll = (text: string | Uint8Array, options: Partial<JsonScanOptions> = {}) =>
  scanJsonArrays(typeof text === 'string' ? utf8(text) : text, { name: 'batch.json', ...options });
const assertInvalid = (fn: () => unknown, message: RegExp) => assertEngineError(fn, 'invalid_array', message);

/** mulberry32: a small seeded generator, so every property run is reproducible. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const digits = (n: number) => Array.from({ length: n }, () => String(int(10))).join('');
  return { next, int, pick, digits };
}
type Random = ReturnType<typeof random>;

/** A number literal in any valid JSON spelling, including ones JSON.stringify never writes. */
function numberLiteral(r: Random, whole: boolean): string {
  const sign = r.next() < 0.4 ? '-' : '';
  const integer = () =>
    r.next() < 0.2 ? '0' : String(1 + r.int(9)) + r.digits(r.int(r.next() < 0.1 ? 25 : 6));
  if (whole) {
    return r.pick([
      () => sign + integer(),
      () => sign + String(r.int(2 ** 31)),
      () => sign + String(2 ** 53 + r.int(4)),
      () => `${sign}${1 + r.int(9)}e${r.int(5)}`,
      () => '-0',
    ])();
  }
  return r.pick([
    () => sign + integer(),
    () => `${sign}${integer()}.${r.digits(1 + r.int(r.next() < 0.3 ? 25 : 8))}`,
    () => `${sign}${integer()}${r.pick(['e', 'E'])}${r.pick(['', '+', '-'])}${r.digits(1 + r.int(3))}`,
    () => `${sign}${integer()}.${r.digits(1 + r.int(18))}e${r.pick(['', '-'])}${r.int(330)}`,
    () => JSON.stringify((r.next() - 0.5) * 10 ** (r.int(40) - 20)),
    () => JSON.stringify(r.next()),
    () =>
      r.pick([
        '-0',
        '-0.0',
        '0e-5',
        '5e-324',
        '2.4703282292062328e-324',
        '1.7976931348623157e308',
        '1e400',
        '9007199254740993',
        '0.1',
        '0.30000000000000004',
        '123456789012345678901234567890e-10',
        '1E+2',
      ]),
  ])();
}

/** A tree of arrays whose leaves are JSON text, so tests can spell and break documents as they like. */
type Tree = Tree[] | { json: string };

function randomTree(r: Random, whole: boolean): Tree {
  const rank = r.int(5);
  const shape = Array.from({ length: rank }, () => (r.next() < 0.1 ? 0 : 1 + r.int(r.next() < 0.2 ? 6 : 3)));
  const booleans = r.next() < 0.15;
  const build = (axis: number): Tree =>
    axis === rank
      ? { json: booleans ? r.pick(['true', 'false']) : numberLiteral(r, whole) }
      : Array.from({ length: shape[axis] }, () => build(axis + 1));
  return build(0);
}

const WHITESPACE = ['', '', ' ', '\n', '\t', '\r', ' \r\n\t '];

function serialize(tree: Tree, r?: Random): string {
  const space = () => (r ? r.pick(WHITESPACE) : '');
  if (!Array.isArray(tree)) return space() + tree.json + space();
  if (tree.length === 0) return `${space()}[${space()}]${space()}`;
  return `${space()}[${tree.map((t) => serialize(t, r)).join(',')}]${space()}`;
}

type Outcome = { array: NdArray } | { code: string; message: string };

function outcome(fn: () => NdArray): Outcome {
  try {
    return { array: fn() };
  } catch (e) {
    assert.ok(e instanceof EngineError, `expected an EngineError, got ${String(e)}`);
    return { code: e.code, message: e.message };
  }
}

/** What the JSON.parse route gives, as decode.ts runs it. */
function reference(bytes: Uint8Array, name: string, dtype: Dtype): Outcome | 'not json' {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return 'not json';
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return {
      code: 'invalid_array',
      message: `${name}: holds a JSON object; expected a nested array of numbers`,
    };
  }
  return outcome(() => parseJsonArray(value, name, { dtype }));
}

function assertSameOutcome(actual: Outcome, expected: Outcome, context: string): void {
  if ('message' in expected) {
    assert.deepEqual(actual, expected, context);
    return;
  }
  if (!('array' in actual)) assert.fail(`${context}: expected an array, got ${actual.message}`);
  assertSameArray(actual.array, expected.array, context);
}

function assertSameArray(actual: NdArray, expected: NdArray, context: string): void {
  assert.equal(actual.dtype, expected.dtype, context);
  assert.deepEqual(actual.shape, expected.shape, context);
  assert.equal(actual.data.constructor, expected.data.constructor, context);
  assert.equal(actual.data.length, expected.data.length, context);
  for (let i = 0; i < expected.data.length; i++) {
    // Object.is tells -0 from 0 and matches NaN, so float data must be bit-identical.
    if (!Object.is(actual.data[i], expected.data[i])) {
      assert.fail(`${context}: element ${i} is ${actual.data[i]}, expected ${expected.data[i]}`);
    }
  }
}

/** Runs the scanner and the JSON.parse route on the same bytes; valid JSON must give identical results. */
function assertMatchesReference(bytes: Uint8Array, dtype: Dtype, context: string): Outcome {
  const actual = outcome(() => scanJsonArray(bytes, { name: 'x', dtype }));
  const expected = reference(bytes, 'x', dtype);
  if (expected === 'not json') {
    assert.ok('code' in actual && actual.code === 'invalid_array', `${context}: accepted invalid JSON`);
  } else {
    assertSameOutcome(actual, expected, context);
  }
  return actual;
}

/** Replaces, drops or adds one node somewhere in `tree`, keeping it valid JSON. */
function breakTree(tree: Tree, r: Random): Tree {
  const copy = structuredClone(tree);
  const arrays: Tree[][] = [];
  const visit = (t: Tree) => {
    if (Array.isArray(t)) {
      arrays.push(t);
      t.forEach(visit);
    }
  };
  visit(copy);
  if (arrays.length === 0) return { json: r.pick(['null', '"a string"', '{"a": [1]}']) };
  const target = r.pick(arrays);
  const at = r.int(target.length + 1);
  const replacement = (): Tree =>
    r.pick<() => Tree>([
      () => ({ json: 'null' }),
      () => ({
        json: r.pick(['"s"', '"a string longer than twenty characters"', '"😀😀😀😀😀😀😀😀😀😀😀"']),
      }),
      () => ({ json: r.pick(['{}', '{"a": [1, {"b": null}]}']) }),
      () => ({ json: r.pick(['true', 'false', '1', '-2.5', '1.5']) }),
      () => [],
      () => [{ json: '1' }, { json: '2' }],
      () => structuredClone(r.pick(arrays)),
    ])();
  const edit = r.int(3);
  if (edit === 0 && target.length > 0) target.splice(Math.min(at, target.length - 1), 1);
  else if (edit === 1 && target.length > 0) target[Math.min(at, target.length - 1)] = replacement();
  else target.splice(at, 0, replacement());
  return copy;
}

describe('scanJsonArray', () => {
  it('reads nested number arrays in C order, like parseJsonArray', () => {
    const a = scan('[[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12.5]]]');
    assert.equal(a.dtype, 'float64');
    assert.deepEqual(a.shape, [2, 3, 2]);
    assert.deepEqual(Array.from(a.data as Float64Array), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5]);
  });

  it('stores each dtype in its own typed array, booleans as bool', () => {
    assert.equal(scan('[0.5]', { dtype: 'float32' }).data.constructor, Float32Array);
    assert.deepEqual(Array.from(scan('[0, 2, -1]', { dtype: 'int32' }).data as Int32Array), [0, 2, -1]);
    assert.deepEqual(Array.from(scan('[1099511627776]', { dtype: 'int64' }).data as BigInt64Array), [
      2n ** 40n,
    ]);
    const b = scan('[[true, false], [false, true]]', { dtype: 'int32' });
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(Array.from(b.data as Uint8Array), [1, 0, 0, 1]);
  });

  it('reads bare numbers as 0-d, [] as [0] and [[]] as [1, 0], and grows past its initial capacity', () => {
    assert.deepEqual(scan(' 3 ').shape, []);
    assert.deepEqual(scan('true').dtype, 'bool');
    assert.deepEqual(scan('[]').shape, [0]);
    assert.deepEqual(scan('[[]]').shape, [1, 0]);
    assert.deepEqual(scan('[[], []]', { dtype: 'int64' }).data, new BigInt64Array(0));
    const many = Array.from({ length: 5000 }, (_, i) => i - 2500);
    assertSameArray(scan(JSON.stringify(many)), parseJsonArray(many, 'x'), 'range');
  });

  it('matches parseJsonArray(JSON.parse(text)) on random shapes, dtypes, spellings and whitespace', () => {
    const r = random(7);
    for (let run = 0; run < 1500; run++) {
      const dtype = r.pick(DTYPES);
      const whole = (dtype === 'int32' || dtype === 'int64') && r.next() < 0.8;
      const text = serialize(randomTree(r, whole), r);
      assertMatchesReference(utf8(text), dtype, `run ${run} (${dtype}): ${text}`);
    }
  });

  it('converts every number literal exactly as JSON.parse does', () => {
    const r = random(11);
    const literals = Array.from({ length: 20000 }, () => numberLiteral(r, false));
    const text = `[${literals.join(',')}]`;
    const expected = JSON.parse(text) as number[];
    const actual = scan(text).data as Float64Array;
    expected.forEach((v, i) => {
      if (!Object.is(actual[i], v)) assert.fail(`${literals[i]}: ${actual[i]} !== ${v}`);
    });
  });

  it('gives parseJsonArray’s error for every ragged or mistyped document, at the same position', () => {
    const r = random(3);
    let errors = 0;
    for (let run = 0; run < 1500; run++) {
      let tree = randomTree(r, r.next() < 0.5);
      for (let edits = 1 + r.int(2); edits > 0; edits--) tree = breakTree(tree, r);
      const dtype = r.pick(DTYPES);
      const text = serialize(tree, r);
      const result = assertMatchesReference(utf8(text), dtype, `run ${run} (${dtype}): ${text}`);
      if ('code' in result) errors++;
    }
    assert.ok(errors > 700, `only ${errors} documents were refused: the edits are too gentle`);
  });

  it('refuses byte-level corruption cleanly and agrees with JSON.parse on what it accepts', () => {
    const r = random(5);
    const noise = [
      '[',
      ']',
      ',',
      '{',
      '}',
      ':',
      '"',
      '\\',
      '-',
      '+',
      '.',
      'e',
      '0',
      '7',
      ' ',
      'n',
      't',
      'x',
      '\u00e9',
      '\uffff',
    ];
    for (let run = 0; run < 3000; run++) {
      const bytes = Array.from(utf8(serialize(randomTree(r, false), r)));
      for (let edits = 1 + r.int(3); edits > 0; edits--) {
        const at = r.int(bytes.length + 1);
        const edit = r.int(4);
        if (edit === 0) bytes.splice(at, 1);
        else if (edit === 1) bytes.splice(at, 0, ...utf8(r.pick(noise)));
        else if (edit === 2) bytes.splice(at, 1, r.int(256));
        else bytes.splice(at, 0, ...bytes.slice(r.int(bytes.length), r.int(bytes.length)));
      }
      assertMatchesReference(new Uint8Array(bytes), r.pick(DTYPES), `run ${run}: ${JSON.stringify(bytes)}`);
    }
  });

  it('reports the first row that is too long or too short, with its actual length', () => {
    assertInvalid(
      () => scan('[[[1, 2], [3, 4]], [[5, 6], [7, 8, 9]]]', { name: 'inputs' }),
      /^inputs\[1, 1\] has length 3 but inputs\[0, 0\] has length 2: the nesting is ragged/,
    );
    // parseJsonArray checks a row's length before its elements, so the long row wins over the string inside it.
    assertInvalid(() => scan('[[1, 2], [3, "x", 5]]'), /^x\[1\] has length 3 but x\[0\] has length 2/);
    assertInvalid(() => scan('[[1, 2], [3]]'), /^x\[1\] has length 1 but x\[0\] has length 2/);
    assertInvalid(() => scan('[[], [1]]'), /^x\[1\] has length 1 but x\[0\] has length 0/);
    // The string is found first, but the row around it is short, and parseJsonArray checks rows first.
    assertInvalid(
      () => scan('[[[1, 2], [3, 4]], [[5, "x"]]]'),
      /^x\[1\] has length 1 but x\[0\] has length 2/,
    );
    assertInvalid(() => scan('[[[1, 2], [3, 4]], [[5, "x"], [6, 7]]]'), /^x\[1, 0, 1\] is a string \("x"\)/);
    assertEngineError(() => scan('[[1, 2], [3]]'), 'invalid_array', /ragged/, { index: [1], offset: 9 });
  });

  it('defers mixed and non-whole leaves to the end of the array, as parseJsonArray does', () => {
    assertInvalid(
      () => scan('[true, 1]'),
      /^x\[1\] is a number \(1\) but x\[0\] is a boolean \(true\): an array must be all numbers or all booleans$/,
    );
    assertInvalid(
      () => scan('[[0, 1], [2, 1.5]]', { name: 'targets', dtype: 'int32' }),
      /^targets\[1, 1\] is 1\.5; expected a whole number for int32$/,
    );
    assertInvalid(() => scan('[2147483648]', { dtype: 'int32' }), /x\[0\] is 2147483648/);
    assertInvalid(
      () => scan('[9007199254740993]', { dtype: 'int64' }),
      /x\[0\] is 9007199254740992; expected/,
    );
    assertInvalid(() => scan('[1.5, true, null]', { dtype: 'int32' }), /^x\[2\] is null/);
    assertInvalid(() => scan('[1.5, true]', { dtype: 'int32' }), /^x\[1\] is a boolean \(true\) but x\[0\]/);
  });

  it('refuses what is not an array of numbers, naming the position', () => {
    assertInvalid(() => scan('[[1, null]]', { name: 'inputs' }), /^inputs\[0, 1\] is null; only numbers/);
    assertInvalid(() => scan('[1, "2"]', { name: 'targets' }), /^targets\[1\] is a string \("2"\)/);
    assertInvalid(
      () => scan('["abcdefghijklmnopqrstuvwxyz"]'),
      /^x\[0\] is a string \("abcdefghijklmnopqrst…"\)/,
    );
    assertInvalid(() => scan('[{"a": 1}]'), /^x\[0\] is an object; only numbers/);
    assertInvalid(() => scan('"1, 2"'), /^x is a string/);
    assertInvalid(() => scan('null'), /^x is null/);
    assertInvalid(
      () => scan('[[1, 2], 3]'),
      /^x\[1\] is a number \(3\), but x\[0\] is an array: the nesting is ragged/,
    );
    assertInvalid(() => scan('[[1, 2], [3, [4]]]'), /^x\[1, 1\] is an array, but x\[0, 0\] is not/);
    assertInvalid(() => scan('{"inputs": [1]}'), /^x: holds a JSON object; expected a nested array/);
  });

  const notJson: [string, string | number[], RegExp][] = [
    [
      'NaN',
      '[1, NaN]',
      /byte 4: expected a value at x\[1\] \(NaN and Infinity are not JSON numbers\), found 'N'/,
    ],
    ['Infinity', '[Infinity]', /byte 1: .*NaN and Infinity are not JSON/],
    ['-Infinity', '[-Infinity]', /byte 2: expected a digit after '-' \(Infinity is not a JSON number\)/],
    ['a leading zero', '[01]', /byte 2: expected a number without leading zeros, found '1'/],
    ['a bare decimal point', '[1.]', /byte 3: expected a digit after the decimal point, found '\]'/],
    ['no integer part', '[.5]', /byte 1: expected a value at x\[0\], found '\.'/],
    ['a plus sign', '[+1]', /byte 1: expected a value at x\[0\], found '\+'/],
    ['an empty exponent', '[1e]', /byte 3: expected a digit in the exponent/],
    ['a signed empty exponent', '[1e+]', /byte 4: expected a digit in the exponent/],
    ['a lone minus', '[-]', /byte 2: expected a digit after '-'/],
    ['hex', '[0x10]', /byte 2: expected ',' or '\]' after x\[0\], found 'x'/],
    ['trailing garbage', '[1, 2] 3', /byte 7: expected the end of the input, found '3'/],
    ['a trailing comma', '[1, 2,]', /byte 6: expected a value at x\[2\], found '\]'/],
    ['a missing comma', '[1 2]', /byte 3: expected ',' or '\]' after x\[0\], found '2'/],
    [
      'unterminated input',
      '[[1, 2], [3',
      /byte 11: expected ',' or '\]' after x\[1, 0\], found the end of the input/,
    ],
    [
      'an unterminated string',
      '["abc',
      /expected the closing '"' of the string that starts at byte 1, found the end/,
    ],
    ['empty input', '', /^x: not valid JSON at byte 0: expected a value, found the end of the input/],
    ['whitespace only', ' \n', /byte 2: expected a value, found the end of the input/],
    ['a misspelt literal', '[tru]', /byte 1: expected a value at x\[0\], found 't'/],
    ['a single quote', "['a']", /found '''/],
    ['a form feed as whitespace', '[1,\f2]', /byte 3: expected a value at x\[1\], found byte 0x0c/],
    ['a no-break space', '[1,\u00a02]', /byte 3: expected a value at x\[1\], found byte 0xc2/],
    ['a bad escape', '["\\x"]', /byte 3: expected an escape .* after '\\', found 'x'/],
    ['a short \\u escape', '["\\u12G4"]', /byte 6: expected four hex digits after '\\u', found 'G'/],
    [
      'a raw newline in a string',
      '["a\nb"]',
      /byte 3: expected a string character \(control characters must be escaped\)/,
    ],
    [
      'a byte that starts no UTF-8 sequence',
      [0x5b, 0x22, 0xff, 0x22, 0x5d],
      /byte 2: invalid UTF-8 in a string/,
    ],
    ['an overlong UTF-8 sequence', [0x5b, 0x22, 0xc0, 0x80, 0x22, 0x5d], /byte 2: invalid UTF-8/],
    ['a UTF-8 surrogate', [0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d], /byte 3: invalid UTF-8/],
    ['a truncated UTF-8 sequence', [0x5b, 0x22, 0xe2, 0x82, 0x22, 0x5d], /byte 4: invalid UTF-8/],
    ['UTF-8 above U+10FFFF', [0x5b, 0x22, 0xf4, 0x90, 0x80, 0x80, 0x22, 0x5d], /byte 3: invalid UTF-8/],
    [
      'a non-ASCII byte outside strings',
      [0x5b, 0x31, 0x2c, 0xc3, 0xa9, 0x5d],
      /byte 3: expected a value at x\[1\], found byte 0xc3/,
    ],
    ['a bad object inside a row', '[1, {"a" 1}]', /byte 9: expected ':' after a key, found '1'/],
  ];
  for (const [what, text, message] of notJson) {
    it(`refuses ${what} with the byte offset`, () => {
      const bytes = typeof text === 'string' ? utf8(text) : new Uint8Array(text);
      assert.throws(() => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
      assertInvalid(() => scan(bytes), message);
      assertInvalid(() => scan(bytes), /^x: not valid JSON at byte \d+: /);
    });
  }

  it('accepts all four JSON whitespace characters anywhere and a leading byte-order mark', () => {
    const expected = scan('[[1,2],[3,4]]');
    for (const space of [' ', '\t', '\n', '\r', ' \r\n\t ']) {
      const text = `${space}[${space}[${space}1${space},${space}2${space}]${space},[3,4]${space}]${space}`;
      assertSameArray(scan(text), expected, JSON.stringify(space));
    }
    assertSameArray(scan(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('[[1,2],[3,4]]')])), expected, 'BOM');
  });

  it('refuses nesting deeper than maxDepth at once, even 100 000 deep', () => {
    const deep = utf8('['.repeat(100_000) + ']'.repeat(100_000));
    const started = performance.now();
    assertEngineError(
      () => scan(deep),
      'invalid_array',
      /^x: arrays are nested more than 32 deep at byte 32 \(the limit is 32\)/,
      {
        maxDepth: 32,
      },
    );
    // Refused after reading 33 bytes; the bound only catches a scan of the whole input (or a stack overflow).
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `took ${elapsed} ms`);
    assertInvalid(() => scan(utf8('[1, ' + '['.repeat(100_000))), /nested more than 32 deep/);
    assertInvalid(() => scan(utf8('[1, ' + '{"a":'.repeat(100_000))), /nested more than 32 deep/);
    assert.deepEqual(scan('[[[1]]]', { maxDepth: 3 }).shape, [1, 1, 1]);
    assertInvalid(() => scan('[[[[1]]]]', { maxDepth: 3 }), /more than 3 deep at byte 3/);
  });

  it('refuses more than maxElements leaves as soon as it sees one', () => {
    assert.equal(scan('[[1, 2], [3, 4]]', { maxElements: 4 }).data.length, 4);
    assertEngineError(
      () => scan('[[1, 2], [3, 4]]', { maxElements: 3 }),
      'too_large',
      /^x: more than 3 array elements \(the limit\), the next at byte 13$/,
      { offset: 13 },
    );
  });

  it('refuses arrays over maxOutputBytes after reading the whole document, before allocating them', () => {
    // 4 float64 elements take 32 bytes; 4 float32 ones 16; int64 8 per element; int32 4.
    assert.equal(scan('[[1, 2], [3, 4]]', { maxOutputBytes: 32 }).data.byteLength, 32);
    assertEngineError(
      () => scan('[[1, 2], [3, 4]]', { maxOutputBytes: 31 }),
      'too_large',
      /^x: the arrays would take 32 bytes decoded, more than the 31 bytes accepted \(the limit\)$/,
      { outputBytes: 32, maxOutputBytes: 31 },
    );
    assert.equal(scan('[1, 2, 3]', { dtype: 'float32', maxOutputBytes: 12 }).data.length, 3);
    assertEngineError(
      () => scan('[1, 2, 3]', { dtype: 'int32', maxOutputBytes: 11 }),
      'too_large',
      /12 bytes/,
    );
    assertEngineError(() => scan('[1, 2]', { dtype: 'int64', maxOutputBytes: 15 }), 'too_large', /16 bytes/);
    assert.equal(scan('[true, false, true]', { maxOutputBytes: 3 }).data.length, 3);
    // Counted after the first pass: an error anywhere in the document is reported instead.
    assertInvalid(() => scan('[1, 2, 3, x]', { maxOutputBytes: 8 }), /byte 10: expected a value at x\[3\]/);
    assertInvalid(() => scan('[1, 2, 3] 4', { maxOutputBytes: 8 }), /byte 10: expected the end of the input/);
    // maxElements still refuses first, as soon as the element is seen.
    assertEngineError(
      () => scan('[1, 2, 3, x]', { maxElements: 2, maxOutputBytes: 8 }),
      'too_large',
      /more than 2 array elements/,
    );
  });

  it('allocates each array once at its exact size', () => {
    for (const [dtype, bytesPerElement] of [
      ['float64', 8],
      ['float32', 4],
      ['int32', 4],
      ['int64', 8],
    ] as const) {
      const values = Array.from({ length: 3001 }, (_, i) => i - 1500);
      const a = scan(`[${values.join(',')}]`, { dtype });
      assert.equal(a.data.byteOffset, 0, dtype);
      assert.equal(a.data.buffer.byteLength, values.length * bytesPerElement, dtype);
      assertSameArray(a, parseJsonArray(values, 'x', { dtype }), dtype);
    }
    const b = scan(JSON.stringify(Array.from({ length: 2049 }, (_, i) => i % 3 === 0)));
    assert.equal(b.data.buffer.byteLength, 2049);
    assert.deepEqual(Array.from((b.data as Uint8Array).subarray(0, 4)), [1, 0, 0, 1]);
    assert.equal(scan('[[], []]', { dtype: 'float32' }).data.buffer.byteLength, 0);
  });

  it('converts short decimals, long ones and exponents alike in both passes', () => {
    const literals = [
      '0',
      '-0',
      '-0.0',
      '7',
      '12.50',
      '0.000000000000001',
      '0.0000000000000001',
      '123456789012345',
      '1234567890123456',
      '-999999999999999.9',
      '0.1',
      '1e3',
      '2E-2',
      '-1.5e+1',
      '9007199254740993',
      '4.35',
      '1.0000000000000002',
      '5e-324',
      '1e400',
    ];
    const text = `[${literals.join(', ')}]`;
    for (const dtype of ['float64', 'float32'] as const) {
      assertSameArray(scan(text, { dtype }), parseJsonArray(JSON.parse(text), 'x', { dtype }), dtype);
    }
    const whole = '[[0, -0, 7, 1e3, 2147483647], [-2147483648, 120.0, 1.5e1, -3, 100e-2]]';
    for (const dtype of ['int32', 'int64'] as const) {
      assertSameArray(scan(whole, { dtype }), parseJsonArray(JSON.parse(whole), 'x', { dtype }), dtype);
    }
  });

  it('reads a 10 MB document correctly', () => {
    const r = random(13);
    const rows = Array.from({ length: 35_000 }, () =>
      Array.from({ length: 16 }, () => (r.next() - 0.5) * 100),
    );
    const bytes = utf8(JSON.stringify(rows));
    assert.ok(bytes.length > 10e6, `only ${bytes.length} bytes`);
    const started = performance.now();
    const array = scanJsonArray(bytes, { name: 'inputs', dtype: 'float32' });
    const seconds = (performance.now() - started) / 1000;
    assertSameArray(array, parseJsonArray(rows, 'inputs', { dtype: 'float32' }), '10 MB');
    // A loose guard against quadratic behaviour, not a benchmark: the scan takes well under a second.
    assert.ok(seconds < 5, `took ${seconds} s`);
  });
});

describe('scanJsonArrays', () => {
  it('reads every key of a top-level object in document order', () => {
    const arrays = scanAll(
      '{"inputs": [[1, 2], [3, 4]], "targets": [0, 1], "mask": [true, false], "lr": 0.5}',
      {
        dtype: 'float32',
      },
    );
    assert.deepEqual([...arrays.keys()], ['inputs', 'targets', 'mask', 'lr']);
    assert.deepEqual(arrays.get('inputs')!.shape, [2, 2]);
    assert.equal(arrays.get('targets')!.data.constructor, Float32Array);
    assert.equal(arrays.get('mask')!.dtype, 'bool');
    assert.deepEqual(arrays.get('lr')!.shape, []);
    assert.deepEqual(scanAll(' { } ').size, 0);
  });

  it('matches parseJsonArray on each value of random documents, errors named by key', () => {
    const r = random(17);
    for (let run = 0; run < 500; run++) {
      const dtype = r.pick(DTYPES);
      const [inputs, targets] = [randomTree(r, false), randomTree(r, false)].map((t) =>
        r.next() < 0.3 ? breakTree(t, r) : t,
      );
      const text = `{${r.pick(WHITESPACE)}"inputs":${serialize(inputs, r)},"targets"${r.pick(WHITESPACE)}:${serialize(targets, r)}}`;
      const value = JSON.parse(text) as Record<string, unknown>;
      let expected: Outcome[];
      try {
        expected = ['inputs', 'targets'].map((key) => ({
          array: parseJsonArray(value[key], key, { dtype }),
        }));
      } catch (e) {
        expected = [{ code: (e as EngineError).code, message: (e as EngineError).message }];
      }
      let actual: Outcome[];
      try {
        actual = [...scanAll(text, { dtype }).values()].map((array) => ({ array }));
      } catch (e) {
        assert.ok(e instanceof EngineError, String(e));
        actual = [{ code: e.code, message: e.message }];
      }
      assert.equal(actual.length, expected.length, text);
      actual.forEach((a, i) => assertSameOutcome(a, expected[i], `run ${run}: ${text}`));
    }
  });

  it('unescapes keys and allows any UTF-8 in them', () => {
    const arrays = scanAll(
      '{"in\\u0070uts": [1], "a\\"b\\\\c\\/\\n": [2], "ïñ😀": [3], "\\ud83d\\ude00": [4]}',
    );
    assert.deepEqual([...arrays.keys()], ['inputs', 'a"b\\c/\n', 'ïñ😀', '😀']);
  });

  it('refuses duplicate, unexpected and overlong keys before reading their values', () => {
    assertInvalid(
      () => scanAll('{"inputs": [1], "in\\u0070uts": [2]}'),
      /^batch\.json: key "inputs" appears twice \(the second time at byte 16\)/,
    );
    assertInvalid(
      () => scanAll('{"inputs": [1], "extra": [', { keys: ['inputs', 'targets'] }),
      /^batch\.json: unexpected key "extra" at byte 16; expected "inputs", "targets"/,
    );
    assert.equal(scanAll(`{"${'k'.repeat(256)}": 1}`).size, 1);
    assertInvalid(
      () => scanAll(`{"${'k'.repeat(100_000)}": 1}`),
      /^batch\.json: the key at byte 1 is longer than 256 characters/,
    );
  });

  it('refuses values that are not arrays of numbers, named by their key', () => {
    assertInvalid(() => scanAll('{"inputs": [1], "meta": "v2"}'), /^meta is a string \("v2"\); only numbers/);
    assertInvalid(() => scanAll('{"inputs": {"a": [1]}}'), /^inputs is an object; only numbers/);
    assertInvalid(() => scanAll('{"inputs": null}'), /^inputs is null/);
    assertInvalid(
      () => scanAll('{"targets": [[1], [2, 3]]}'),
      /^targets\[1\] has length 2 but targets\[0\] has length 1/,
    );
  });

  it('refuses what is not an object of arrays, with the byte offset', () => {
    assertInvalid(
      () => scanAll('[[1, 2]]'),
      /^batch\.json: expected a JSON object of arrays .*, found an array$/,
    );
    assertInvalid(() => scanAll('3'), /found a number$/);
    assertInvalid(() => scanAll(''), /^batch\.json: not valid JSON at byte 0: expected '\{', found the end/);
    assertInvalid(() => scanAll('{"a": [1]} {}'), /byte 11: expected the end of the input, found '\{'/);
    assertInvalid(
      () => scanAll('{"a": [1],}'),
      /byte 10: expected a key \(a string in double quotes\), found '\}'/,
    );
    assertInvalid(() => scanAll('{a: [1]}'), /byte 1: expected a key/);
    assertInvalid(() => scanAll('{"a" [1]}'), /byte 5: expected ':' after key "a", found '\['/);
    assertInvalid(
      () => scanAll('{"a": [1] "b": [2]}'),
      /byte 10: expected ',' or '\}' after the value of "a", found '"'/,
    );
    assertInvalid(
      () => scanAll('{"a": [1]'),
      /byte 9: expected ',' or '\}' after the value of "a", found the end/,
    );
    assertInvalid(
      () => scanAll(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
      /byte 2: invalid UTF-8/,
    );
  });

  it('counts maxOutputBytes over every array of the document, each at its own dtype', () => {
    // 4 float32 inputs (16 bytes) + 2 float32 targets (8) + 2 booleans (2) = 26 bytes.
    const text = '{"inputs": [[1, 2], [3, 4]], "targets": [0, 1], "mask": [true, false]}';
    const arrays = scanAll(text, { dtype: 'float32', maxOutputBytes: 26 });
    assert.deepEqual(
      [...arrays.values()].map((a) => a.data.buffer.byteLength),
      [16, 8, 2],
    );
    assertEngineError(
      () => scanAll(text, { dtype: 'float32', maxOutputBytes: 25 }),
      'too_large',
      /^batch\.json: the arrays would take 26 bytes decoded, more than the 25 bytes accepted \(the limit\)$/,
      { outputBytes: 26, maxOutputBytes: 25 },
    );
    // An error in a later value still wins: nothing is allocated before the whole document has been read.
    assertInvalid(
      () => scanAll('{"inputs": [[1, 2], [3, 4]], "targets": [0, null]}', { maxOutputBytes: 1 }),
      /^targets\[1\] is null/,
    );
  });

  it('counts maxElements over the whole document', () => {
    assertEngineError(
      () => scanAll('{"inputs": [1, 2], "targets": [3, 4]}', { maxElements: 3 }),
      'too_large',
      /more than 3/,
    );
  });
});
