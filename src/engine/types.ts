import type { Float32NdArray, NdArray } from './ndarray.js';
import type { LossSpecInput, MethodSpecInput, ParameterSelection } from './spec.js';

/** A TF.js Layers artifact held in memory: the parsed (or raw) model.json and its shard files by manifest path. */
export interface ModelArtifacts {
  modelJson: unknown;
  weights: Map<string, Uint8Array>;
}

/** Where one weight tensor sits in the flattened parameter vector θ (row-major in its TF.js shape). */
export interface ParamLayout {
  name: string;
  layer: string;
  shape: number[];
  offset: number;
  size: number;
}

export interface ComputeRequest {
  model: ModelArtifacts;
  inputs: NdArray;
  targets: NdArray;
  loss: LossSpecInput;
  method: MethodSpecInput;
  parameters?: ParameterSelection;
  /** k×P vectors for hvp / ggnvp / inverse_hvp (overrides `method.vectors`). */
  vectors?: NdArray;
  seed?: number;
}

export interface ComputeOptions {
  /** Called after each unit of work (an HVP, a probe, a column, ...). */
  onProgress?: (completed: number, total: number) => void;
  /** Checked between units of work; the method throws EngineError('cancelled') once aborted. */
  signal?: AbortSignal;
  /** Refuse a dense result larger than this many bytes (default 2 GiB). */
  maxDenseBytes?: number;
}

export interface Verification {
  /** ‖A − Aᵀ‖_F / ‖A‖_F of a dense result. */
  symmetryResidual?: number;
  /** H·v from the method's operator against the central difference of gradients along a random v. */
  directional?: { relativeError: number; step: number; tolerance: number; passed: boolean };
  passed: boolean;
  warnings: string[];
}

export interface ComputeResult {
  method: string;
  numParams: number;
  parameters: ParamLayout[];
  backend: string;
  /** Scalars and small arrays: eigenvalues, trace, standard errors, residuals, ... */
  summary: Record<string, unknown>;
  verification: Verification;
  timings: Record<string, number>;
  /** Arrays to write as `.npy` (float32, C order), keyed by file name: `hessian.npy`, `eigenvectors.npy`, ... */
  arrays: Record<string, Float32NdArray>;
}
