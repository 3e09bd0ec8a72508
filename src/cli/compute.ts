import { readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ArrayGroup } from '../contract/data/array-group.js';
import { decodeArrayFile, decodeArrayGroupFile, decodeBatchFile } from '../contract/data/decode.js';
import { manifestShardPaths } from '../contract/model/weights-manifest.js';
import { looksLikeOnnx } from '../contract/onnx/onnx-proto.js';
import { EngineError, isEngineError } from '../contract/errors.js';
import { LOSS_NAMES, METHOD_NAMES } from '../contract/request-schema.js';
import type { ComputeResult, ModelArtifacts } from '../contract/types.js';
import { checkSpecs } from '../contract/request.js';
import { writeFileAtomic } from '../storage/atomic-write.js';
import { writeArtifacts } from '../storage/result-artifacts.js';
import { progressReporter, summarize } from './progress.js';

const HELP = `usage: hessian compute --model M/model.json (--inputs X --targets Y | --batch B.npz) --loss NAME
                       --method NAME --out DIR [options]

  --model PATH         TF.js Layers model.json (weight shards are read from its directory), or an ONNX
                       model (.onnx, detected by content; see docs/onnx.md)
  --inputs PATH        inputs (.npy or .json);  --targets PATH  targets (.npy or .json)
                       several model inputs/outputs: an .npz keyed by input/output layer names
  --batch PATH         or one .npz holding inputs/targets (or x/y, or inputs.<name>/targets.<name>)
  --loss NAME          ${LOSS_NAMES.join(' | ')}
  --from-logits        the model outputs logits     --reduction mean|sum   --l2 X   --delta X (huber)
  --loss-outputs JSON  per-output losses and weights by output name, e.g. '{"aux": {"name": "mean_squared_error",
                       "weight": 0.2}}' (the loss is the weighted sum over outputs)
  --method NAME        ${METHOD_NAMES.join(' | ')}
  --vectors PATH       k×P .npy (hvp, ggnvp, fvp, inverse_hvp; optional for kfac)
  --k N  --which largest|smallest|magnitude  --probes N  --steps N  --estimator hutchpp|hutchinson|exact
  --curvature hessian|ggn|fisher  --blocks full|layer|weight  --damping X  --tol X  --max-iter N  --step X
  --kfac-type exact|mc  --samples N (kfac: B from the exact factor, or N sampled targets per example)
  --fisher-type mc|empirical  --samples N (curvature fisher, methods fisher and fvp: Monte-Carlo Fisher from N
                       sampled targets per example, or the empirical Fisher of the given targets)
  --params NAME,...    weight or layer names (default: all trainable weights)
  --seed N             seed for stochastic methods (default 0)
  --backend auto|cpu|wasm|tensorflow        --max-dense-bytes N (default 2 GiB)
  --out DIR            writes DIR/result.json and DIR/*.npy (float32, C order; kfac also DIR/kfac/<i>-<layer>/A.npy)
  --quiet              no progress and no summary on stderr (errors and verification warnings still)`;

class UsageError extends Error {}

const OPTIONS = {
  model: { type: 'string' },
  inputs: { type: 'string' },
  targets: { type: 'string' },
  batch: { type: 'string' },
  loss: { type: 'string' },
  'from-logits': { type: 'boolean' },
  'loss-outputs': { type: 'string' },
  reduction: { type: 'string' },
  l2: { type: 'string' },
  delta: { type: 'string' },
  method: { type: 'string' },
  vectors: { type: 'string' },
  k: { type: 'string' },
  which: { type: 'string' },
  probes: { type: 'string' },
  steps: { type: 'string' },
  estimator: { type: 'string' },
  curvature: { type: 'string' },
  blocks: { type: 'string' },
  damping: { type: 'string' },
  tol: { type: 'string' },
  'max-iter': { type: 'string' },
  step: { type: 'string' },
  'kfac-type': { type: 'string' },
  'fisher-type': { type: 'string' },
  samples: { type: 'string' },
  params: { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  'max-dense-bytes': { type: 'string' },
  out: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} expects a number, got '${value}'`);
  return n;
}

function required(name: string, value: string | undefined): string {
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

async function readInput(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new UsageError(
      `cannot read ${what} '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/**
 * model.json plus the shard files its manifest names, read from the same directory (never outside it), or an ONNX
 * file's bytes.
 */
async function readModel(file: string): Promise<ModelArtifacts> {
  const bytes = await readInput(file, 'model');
  // An ONNX file is one protobuf: its bytes are the model (parseModel tells it from JSON by content).
  if (looksLikeOnnx(bytes)) return { modelJson: bytes, weights: new Map() };
  const text = new TextDecoder().decode(bytes);
  let modelJson: any;
  try {
    modelJson = JSON.parse(text);
  } catch (e) {
    throw new EngineError('invalid_model', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  const dir = path.dirname(file);
  const weights = new Map<string, Uint8Array>();
  for (const shard of manifestShardPaths(modelJson)) {
    const resolved = path.resolve(dir, shard);
    if (path.dirname(resolved) !== path.resolve(dir)) {
      throw new EngineError(
        'invalid_model',
        `weight shard path '${shard}' must name a file next to model.json`,
      );
    }
    try {
      weights.set(shard, new Uint8Array(await readFile(resolved)));
    } catch {
      // A missing shard is reported by the model parser, with the one message for it (missingShard).
    }
  }
  return { modelJson, weights };
}

function methodOptions(v: Record<string, any>): Record<string, unknown> {
  const m: Record<string, unknown> = { name: required('method', v.method) };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) m[key] = value;
  };
  set('k', number('k', v.k));
  set('which', v.which);
  set('probes', number('probes', v.probes));
  set('steps', number('steps', v.steps));
  set('estimator', v.estimator);
  set('curvature', v.curvature);
  set('blocks', v.blocks);
  set('damping', number('damping', v.damping));
  set('tol', number('tol', v.tol));
  set('maxIter', number('max-iter', v['max-iter']));
  set('step', number('step', v.step));
  set('type', v['kfac-type']);
  set('fisherType', v['fisher-type']);
  set('samples', number('samples', v.samples));
  return m;
}

export async function run(argv: string[]): Promise<ComputeResult | undefined> {
  const { values: v } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  if (v.help) {
    console.log(HELP);
    return undefined;
  }
  const out = required('out', v.out);
  const model = await readModel(required('model', v.model));
  let inputs: ArrayGroup;
  let targets: ArrayGroup;
  if (v.batch) {
    ({ inputs, targets } = decodeBatchFile(await readInput(v.batch, 'batch'), v.batch));
  } else {
    const inputsPath = required('inputs', v.inputs);
    const targetsPath = required('targets', v.targets);
    inputs = decodeArrayGroupFile(await readInput(inputsPath, 'inputs'), inputsPath);
    targets = decodeArrayGroupFile(await readInput(targetsPath, 'targets'), targetsPath);
  }
  const vectors = v.vectors ? decodeArrayFile(await readInput(v.vectors, 'vectors'), v.vectors) : undefined;
  const loss: Record<string, unknown> = {
    name: required('loss', v.loss),
    fromLogits: v['from-logits'] ?? false,
  };
  if (v.reduction) loss.reduction = v.reduction;
  if (v.l2 !== undefined) loss.l2 = number('l2', v.l2);
  if (v.delta !== undefined) loss.delta = number('delta', v.delta);
  if (v['loss-outputs'] !== undefined) {
    try {
      loss.outputs = JSON.parse(v['loss-outputs']);
    } catch (e) {
      throw new UsageError(`--loss-outputs is not valid JSON: ${(e as Error).message}`);
    }
  }
  const seed = number('seed', v.seed);
  const backend = (v.backend ?? process.env.HESSIAN_BACKEND ?? 'auto') as any;
  if (!['auto', 'cpu', 'wasm', 'tensorflow'].includes(backend)) {
    throw new UsageError(`--backend must be auto, cpu, wasm or tensorflow, got '${backend}'`);
  }

  // The loss and method are checked before TF.js loads (a second or so), so a typo is answered at once.
  checkSpecs(loss, methodOptions(v));
  // TF.js is loaded only now, after the arguments are known to be usable.
  const { compute } = await import('../engine/compute.js');
  const progress = progressReporter(process.stderr, { quiet: v.quiet });
  const result = await compute(
    {
      model,
      inputs,
      targets,
      loss: loss as any,
      method: methodOptions(v) as any,
      parameters: v.params ? { include: v.params.split(',').map((s) => s.trim()) } : undefined,
      vectors,
      seed,
    },
    {
      backend,
      maxDenseBytes: number('max-dense-bytes', v['max-dense-bytes']),
      onProgress: progress.onProgress,
    },
  ).finally(() => progress.end());
  await mkdir(out, { recursive: true });
  const artifacts = await writeArtifacts(result.arrays, (name, bytes) =>
    writeFileAtomic(path.join(out, name), bytes),
  );
  const { arrays: _arrays, ...json } = result;
  await writeFileAtomic(
    path.join(out, 'result.json'),
    JSON.stringify({ ...json, artifacts }, null, 2) + '\n',
  );
  if (!v.quiet)
    process.stderr.write(
      summarize(
        result,
        out,
        artifacts.map((a) => a.name),
      ),
    );
  return result;
}

/** CLI entry: one-line errors and a non-zero exit, never a stack trace (set HESSIAN_DEBUG=1 for one). */
export async function main(argv: string[]): Promise<number> {
  try {
    const result = await run(argv);
    if (result && !result.verification.passed) {
      for (const w of result.verification.warnings) console.error(`hessian: warning: ${w}`);
    }
    return 0;
  } catch (e) {
    if (process.env.HESSIAN_DEBUG) console.error(e);
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code?.startsWith?.('ERR_PARSE_ARGS')) {
      console.error(`hessian compute: ${(e as Error).message} (see --help)`);
      return 2;
    }
    if (isEngineError(e)) {
      console.error(`hessian compute: ${e.message}`);
      return e.code === 'cancelled' ? 130 : 1;
    }
    console.error(`hessian compute: internal error: ${(e as Error).message}`);
    return 70;
  }
}
