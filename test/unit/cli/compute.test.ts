/**
 * `hessian compute` end to end in a child process: the files it writes, and one-line errors with a non-zero exit
 * (never a stack trace) for bad arguments.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { encodeNpy, parseNpy } from '../../../src/contract/data/npy.js';
import { parseNpz } from '../../../src/contract/data/npz.js';
import { cliArgs } from '../../helpers/cli.js';
import { GOLDEN_DIR, loadGoldenCase, relativeError } from '../../helpers/golden.js';

const run = promisify(execFile);
const CASE = path.join(GOLDEN_DIR, 'mlp_tanh_cce_fused');

async function hessian(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, cliArgs(...args), {
      env: { ...process.env, HESSIAN_DEBUG: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** `compute` on the golden MLP case, with the method-specific arguments appended. */
const caseArgs = (...extra: string[]) => [
  'compute',
  ...['--model', path.join(CASE, 'model.json')],
  ...['--inputs', path.join(CASE, 'inputs.npy')],
  ...['--targets', path.join(CASE, 'targets.npy')],
  ...['--loss', 'categorical_crossentropy'],
  ...extra,
];

describe('hessian compute', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('takes inputs and targets as .npz keyed by input and output names, with per-output losses', async () => {
    const multi = path.join(GOLDEN_DIR, 'multi_io_two_outputs');
    const out = await mkdtemp(path.join(os.tmpdir(), 'hessian-cli-'));
    dirs.push(out);
    const r = await hessian([
      'compute',
      ...['--model', path.join(multi, 'model.json')],
      ...['--inputs', path.join(multi, 'inputs.npz')],
      ...['--targets', path.join(multi, 'targets.npz')],
      ...['--loss', 'categorical_crossentropy'],
      ...['--loss-outputs', '{"reg": {"name": "mean_squared_error", "weight": 0.5}}'],
      ...['--method', 'hessian', '--backend', 'cpu', '--out', out],
    ]);
    assert.equal(r.code, 0, r.stderr);
    // The summary paragraph on stderr (progress lines come only every 5 s without a terminal).
    assert.match(
      r.stderr,
      new RegExp(
        `hessian: hessian of P = 73 parameters over \\d+ examples on cpu in [0-9.]+s.*\\. Wrote ${out}/result\\.json ` +
          'and hessian\\.npy; verification passed \\(directional_fd',
      ),
    );
    const got = parseNpy(new Uint8Array(await readFile(path.join(out, 'hessian.npy'))));
    // float32 against float64 PyTorch, relative Frobenius error (P = 73).
    const err = relativeError(got.data as Float32Array, loadGoldenCase('multi_io_two_outputs').hessian);
    assert.ok(err <= 1e-4, `relative error ${err.toExponential(2)}`);

    const missing = await hessian([
      'compute',
      ...['--model', path.join(multi, 'model.json')],
      ...['--inputs', path.join(multi, 'inputs.npz')],
      ...['--targets', path.join(multi, 'targets.npz')],
      ...['--loss', 'categorical_crossentropy', '--loss-outputs', '{oops'],
      ...['--method', 'hessian', '--out', out],
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /--loss-outputs is not valid JSON/);
  });

  it('writes result.json and hessian.npy matching the float64 reference', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'hessian-cli-'));
    dirs.push(out);
    const r = await hessian(caseArgs('--method', 'hessian', '--backend', 'cpu', '--out', out));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['hessian.npy', 'result.json']);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    assert.equal(result.method, 'hessian');
    assert.equal(result.numParams, 51);
    assert.equal(result.backend, 'cpu');
    assert.equal(result.verification.passed, true);
    assert.deepEqual(result.parameters[0], {
      name: 'dense/kernel',
      layer: 'dense',
      shape: [4, 6],
      offset: 0,
      size: 24,
    });
    const file = await readFile(path.join(out, 'hessian.npy'));
    assert.deepEqual(result.artifacts[0], {
      name: 'hessian.npy',
      shape: [51, 51],
      dtype: 'float32',
      bytes: 128 + 51 * 51 * 4,
      sha256: createHash('sha256').update(file).digest('hex'),
    });
    const h = parseNpy(new Uint8Array(file));
    assert.deepEqual(h.shape, [51, 51]);
    // Float32 through two layers: 1e-4 relative Frobenius error.
    assert.ok(relativeError(h.data as Float32Array, loadGoldenCase('mlp_tanh_cce_fused').hessian) <= 1e-4);
  });

  it('writes eigenvalues into result.json and eigenvectors.npy for eigen', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'hessian-cli-'));
    dirs.push(out);
    const r = await hessian(caseArgs('--method', 'eigen', '--k', '2', '--backend', 'cpu', '--out', out));
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    assert.equal(result.summary.eigenvalues.length, 2);
    const ref = loadGoldenCase('mlp_tanh_cce_fused').eigenvalues;
    assert.ok(
      Math.abs(result.summary.eigenvalues[0] - ref[ref.length - 1]) <= 1e-3 * Math.abs(ref[ref.length - 1]),
    );
    const v = parseNpy(new Uint8Array(await readFile(path.join(out, 'eigenvectors.npy'))));
    assert.deepEqual(v.shape, [2, 51]);
  });

  it('writes kfac factors under kfac/<index>-<layer>/ (--kfac-type, --samples, --damping, --vectors)', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'hessian-cli-'));
    dirs.push(out);
    const vectors = path.join(out, 'v.npy');
    await writeFile(
      vectors,
      encodeNpy({
        dtype: 'float32',
        shape: [1, 51],
        data: Float32Array.from({ length: 51 }, (_, i) => Math.sin(i)),
      }),
    );
    const args = [
      '--method',
      'kfac',
      '--damping',
      '0.1',
      '--vectors',
      vectors,
      '--backend',
      'cpu',
      '--out',
      out,
    ];
    const r = await hessian(caseArgs(...args));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), [
      'inverse_products.npy',
      'kfac',
      'products.npy',
      'result.json',
      'v.npy',
    ]);
    assert.deepEqual((await readdir(path.join(out, 'kfac'))).sort(), ['0-dense', '1-dense_1']);
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    assert.equal(result.summary.approximation, true);
    assert.equal(result.verification.passed, true);
    assert.deepEqual(
      result.artifacts.map((a: { name: string }) => a.name),
      [
        'kfac/0-dense/A.npy',
        'kfac/0-dense/B.npy',
        'kfac/1-dense_1/A.npy',
        'kfac/1-dense_1/B.npy',
        'products.npy',
        'inverse_products.npy',
      ],
    );
    const golden = parseNpz(new Uint8Array(await readFile(path.join(CASE, 'kfac.npz'))));
    const a = parseNpy(new Uint8Array(await readFile(path.join(out, 'kfac', '1-dense_1', 'A.npy'))));
    assert.deepEqual(a.shape, [7, 7]);
    // float32 against float64 PyTorch (measured ~1e-7): 1e-4.
    assert.ok(relativeError(a.data as Float32Array, golden.get('dense_1.A')!.data as Float64Array) <= 1e-4);

    const mc = await hessian(
      caseArgs('--method', 'kfac', '--kfac-type', 'mc', '--samples', '8', '--seed', '3', '--out', out),
    );
    assert.equal(mc.code, 0, mc.stderr);
    const mcResult = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    assert.equal(mcResult.summary.type, 'mc');
    assert.equal(mcResult.summary.samples, 8);

    const conv = path.join(GOLDEN_DIR, 'cnn_two_conv_maxpool');
    const refused = await hessian([
      'compute',
      ...['--model', path.join(conv, 'model.json')],
      ...['--inputs', path.join(conv, 'inputs.npy'), '--targets', path.join(conv, 'targets.npy')],
      ...['--loss', 'sparse_categorical_crossentropy', '--method', 'kfac', '--out', out],
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /layer "conv2d" \(Conv2D\) is not one of them/);
  });

  it('says nothing on stderr with --quiet when all is well', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'hessian-cli-'));
    dirs.push(out);
    const r = await hessian(caseArgs('--out', out, '--method', 'diagonal', '--backend', 'cpu', '--quiet'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  for (const [what, args, message] of [
    ['an unknown method', ['--method', 'nope'], /method\.name: Invalid/],
    ['an unknown loss', ['--loss', 'mae', '--method', 'hessian'], /loss\.name: Invalid/],
    ['an unknown option', ['--method', 'hessian', '--no-out'], /Unknown option '--no-out'/],
    ['a non-numeric --k', ['--method', 'eigen', '--k', 'three'], /--k expects a number, got 'three'/],
    [
      'a missing model file',
      ['--method', 'hessian', '--model', '/nonexistent/model.json'],
      /cannot read model '\/nonexistent\/model.json': ENOENT/,
    ],
  ] as const) {
    it(`rejects ${what} with a one-line error and a non-zero exit`, async () => {
      const r = await hessian(caseArgs('--out', os.tmpdir(), ...args));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }
});
