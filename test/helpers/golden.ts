import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { ArrayGroup } from '../../src/contract/data/array-group.js';
import { parseNpy } from '../../src/contract/data/npy.js';
import { parseNpz } from '../../src/contract/data/npz.js';
import type { NdArray } from '../../src/contract/ndarray.js';
import type { ComputeRequest } from '../../src/contract/types.js';

export const GOLDEN_DIR = path.resolve(import.meta.dirname, '../fixtures/golden');

export interface GoldenCase {
  name: string;
  request: Omit<ComputeRequest, 'method'>;
  numParams: number;
  hessian: Float64Array;
  ggn: Float64Array;
  eigenvalues: Float64Array;
  gradient: Float64Array;
}

const npy = (file: string): NdArray => parseNpy(new Uint8Array(readFileSync(file)));

/** `<what>.npy`, or `<what>.npz` keyed by input (output) name for a model with several. */
function arrays(dir: string, what: 'inputs' | 'targets'): ArrayGroup {
  const npz = path.join(dir, `${what}.npz`);
  if (!existsSync(npz)) return npy(path.join(dir, `${what}.npy`));
  const byKey = parseNpz(new Uint8Array(readFileSync(npz)), npz);
  return new Map([...byKey].map(([key, a]) => [key.replace(/\.npy$/, ''), a]));
}

export function goldenCaseNames(): string[] {
  return readdirSync(GOLDEN_DIR)
    .filter((d) => existsSync(path.join(GOLDEN_DIR, d, 'case.json')))
    .sort();
}

/** Loads a committed float64 reference case (made by test/fixtures/golden/generate.py). */
export function loadGoldenCase(name: string): GoldenCase {
  const dir = path.join(GOLDEN_DIR, name);
  const spec = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8'));
  const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weights = new Map<string, Uint8Array>();
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) weights.set(p, new Uint8Array(readFileSync(path.join(dir, p))));
  }
  const f64 = (file: string) => Float64Array.from(npy(path.join(dir, file)).data as Float64Array);
  return {
    name,
    request: {
      model: { modelJson, weights },
      inputs: arrays(dir, 'inputs'),
      targets: arrays(dir, 'targets'),
      loss: spec.loss,
      parameters: spec.parameters,
    },
    numParams: spec.numParams,
    hessian: f64('hessian.npy'),
    ggn: f64('ggn.npy'),
    eigenvalues: f64('eigenvalues.npy'),
    gradient: f64('gradient.npy'),
  };
}

/** ‖a − b‖_F / ‖b‖_F. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

export function matvec(matrix: Float64Array, v: Float64Array): Float64Array {
  const n = v.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += matrix[i * n + j] * v[j];
    out[i] = s;
  }
  return out;
}

/** A golden case whose model.json layers `edit` rewrites (for options TF.js cannot load, so no golden holds). */
export function editedGoldenCase(name: string, edit: (layers: any[]) => void): GoldenCase {
  const c = loadGoldenCase(name);
  const modelJson = structuredClone(c.request.model.modelJson) as any;
  edit(modelJson.modelTopology.config.layers);
  return { ...c, request: { ...c.request, model: { ...c.request.model, modelJson } } };
}
