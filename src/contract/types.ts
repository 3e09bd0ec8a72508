import type { ArrayGroup } from './data/array-group.js';
import type { Float32NdArray, NdArray } from './ndarray.js';
import type { LossSpecInput, MethodSpecInput, ParameterSelection } from './request-schema.js';

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
  /** One array, or one per model input keyed by input layer name. */
  inputs: ArrayGroup;
  /** One array, or one per model output keyed by output layer name. */
  targets: ArrayGroup;
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

/**
 * The checks a result can carry (docs/engine.md, "Verification", says what each compares, its tolerance and
 * its cost):
 * - `directional_fd`: the curvature product (H v, or J v for the GGN) along a random unit v against central
 *   differences of the gradient (or of the logits);
 * - `product_fd`: a product the Hessian result itself implies (a dense matrix times a random v, or hvp's first
 *   product) against central differences of the gradient along its vector;
 * - `full_ggn_product`: G v = Jᵀ H_ℓ J v as the result implies it (dense matrix, ggnvp's first product, or the
 *   operator) against central differences of Jᵀ∇_zℓ(f(θ₀ + s v)), first-order passes only;
 * - `symmetry`: ‖A − Aᵀ‖_F/‖A‖_F of a dense result before it was symmetrized;
 * - `sampled_columns`: seeded columns of a dense result against fresh operator products A e_j;
 * - `sampled_diagonal`: seeded diagonal entries against fresh products e_jᵀ A e_j;
 * - `eigen_residuals`: ‖A v − λ v‖ / max|θ| per returned eigenpair, from fresh products;
 * - `inverse_hvp_residual`: ‖(A + δI)x − b‖/‖b‖ per right-hand side, from fresh products;
 * - `standard_error`: the uncertainty of a stochastic estimate (an approximation, never a proof);
 * - `kfac_single_example`: KFAC's factors of one seeded example (where KFAC is exact) times a random vector against
 *   that example's exact GGN block products, per layer;
 * - `kfac_inverse_residual`: ‖(K + δI)x − v‖/‖v‖ per vector for KFAC's inverse products, K applied from its factors.
 */
export type VerificationCheckName =
  | 'directional_fd'
  | 'product_fd'
  | 'full_ggn_product'
  | 'fisher_product'
  | 'symmetry'
  | 'sampled_columns'
  | 'sampled_diagonal'
  | 'eigen_residuals'
  | 'inverse_hvp_residual'
  | 'standard_error'
  | 'kfac_single_example'
  | 'kfac_inverse_residual';

/** One named comparison of a result against something computed independently of it. */
export interface VerificationCheck {
  name: VerificationCheckName;
  /** `value ≤ tolerance` (and, for iterative methods, that they converged). Ignored by
   *  {@link Verification.passed} when `inconclusive`. */
  passed: boolean;
  /** The measured discrepancy, dimensionless (a relative error or residual; the worst of `values`), or for an
   *  approximation the estimate's standard error in the result's units. null when it could not be measured
   *  (e.g. a standard error from a single probe). */
  value: number | null;
  /** The largest accepted `value`, chosen for float32 arithmetic; null for an approximation, whose standard
   *  error is reported, not judged. */
  tolerance: number | null;
  /** Per-sample values when the check has several (per right-hand side, per eigenpair, per column). */
  values?: number[];
  /** The check could not decide (e.g. a kink lies within the finite-difference step). */
  inconclusive: boolean;
  /** The result is a stochastic estimate: this check reports its uncertainty and claims no exactness. */
  approximation: boolean;
  /** One sentence: what was compared with what, and the outcome. */
  detail: string;
}

export interface Verification {
  /** True when every check that is not inconclusive passed. */
  passed: boolean;
  /** Every check run on this result, in the order run. */
  checks: VerificationCheck[];
  /** ‖A − Aᵀ‖_F / ‖A‖_F of a dense result (also the `symmetry` check's value; kept for compatibility). */
  symmetryResidual?: number;
  /** The `directional_fd` check in its original shape (kept for compatibility). */
  directional?: { relativeError: number; step: number; tolerance: number; passed: boolean };
  /** One line per failed or inconclusive check (failures start with `VERIFICATION FAILED`). */
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
