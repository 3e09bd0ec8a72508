import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseNpy } from '../../src/contract/data/npy.js';
import type { NdArray } from '../../src/contract/ndarray.js';
import type { GoldenCase } from './golden.js';

/** The ONNX golden cases (made by test/fixtures/onnx/generate.py from PyTorch exports). */
export const ONNX_GOLDEN_DIR = path.resolve(import.meta.dirname, '../fixtures/onnx');

const npy = (file: string): NdArray => parseNpy(new Uint8Array(readFileSync(file)));

export function onnxCaseNames(): string[] {
  return readdirSync(ONNX_GOLDEN_DIR)
    .filter((d) => existsSync(path.join(ONNX_GOLDEN_DIR, d, 'case.json')))
    .sort();
}

export interface OnnxGoldenCase extends GoldenCase {
  onnx: Uint8Array;
  layout: { name: string; layer: string; shape: number[]; offset: number; size: number }[];
  ggnSplit: 'logits' | 'output';
}

/** Loads a case: the model is the .onnx bytes as `modelJson`, as the CLI and the API pass it. */
export function loadOnnxCase(name: string): OnnxGoldenCase {
  const dir = path.join(ONNX_GOLDEN_DIR, name);
  const spec = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8'));
  const onnx = new Uint8Array(readFileSync(path.join(dir, 'model.onnx')));
  const f64 = (file: string) => Float64Array.from(npy(path.join(dir, file)).data as Float64Array);
  return {
    name,
    onnx,
    layout: spec.layout,
    ggnSplit: spec.ggnSplit,
    request: {
      model: { modelJson: onnx, weights: new Map() },
      inputs: npy(path.join(dir, 'inputs.npy')),
      targets: npy(path.join(dir, 'targets.npy')),
      loss: spec.loss,
    },
    numParams: spec.numParams,
    hessian: f64('hessian.npy'),
    ggn: f64('ggn.npy'),
    eigenvalues: f64('eigenvalues.npy'),
    gradient: f64('gradient.npy'),
  };
}
