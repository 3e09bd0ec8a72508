import type { CheckContext } from '../checks/check.js';
import type { ClaimedProduct } from '../checks/product.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { Rng } from '../estimators/rng.js';
import type { Float32NdArray } from '../../contract/ndarray.js';
import type { Objective } from '../objective.js';
import type { Progress } from '../progress.js';
import type { LossSpec, MethodSpec } from '../../contract/request-schema.js';
import type { ArrayGroup } from '../../contract/data/array-group.js';
import type { ParsedModel } from '../../contract/model/parsed-model.js';
import type { VerificationCheck } from '../../contract/types.js';

export type Curvature = 'hessian' | 'ggn' | 'fisher';

/** What the objective was built from. */
export interface MethodProblem {
  model: ParsedModel;
  inputs: ArrayGroup;
  targets: ArrayGroup;
  loss: LossSpec;
}

export interface MethodContext {
  objective: Objective;
  /** The curvature operator, instrumented: each product is a unit of progress and a cancellation point. */
  operator(kind: Curvature): LinearOperator;
  progress: Progress;
  rng: Rng;
  /** The request's seed, for units that draw from their own stream (`derivedRng(seed, index)`). */
  seed: number;
  /** k×P vectors for products and solves, when the request has them. */
  vectors?: Float64Array[];
  /** The request's model, batch and loss, for methods that work layer by layer (kfac). */
  problem?: MethodProblem;
  maxDenseBytes: number;
}

export interface MethodOutput {
  summary: Record<string, unknown>;
  arrays: Record<string, Float32NdArray>;
  /** ‖A − Aᵀ‖_F/‖A‖_F of a dense result before it was symmetrized. */
  symmetryResidual?: number;
  /** The largest acceptable symmetryResidual. @defaultValue SYMMETRY_TOLERANCE (1e-3, exact products) */
  symmetryTolerance?: number;
  /** Which curvature the directional verification checks. */
  curvature: Curvature;
  /** A product A v the result itself states (a full dense matrix times a random v, hvp's first product), for
   *  the `product_fd` / `full_ggn_product` check; without one the GGN is checked through its operator. */
  claimedProduct?: (rng: Rng) => ClaimedProduct;
  /** The method's checks of its own output against fresh computations, run after it (not counted as
   *  progress). */
  verify?: (ctx: CheckContext) => Promise<VerificationCheck[]>;
}

export type Method<S extends MethodSpec = MethodSpec> = (
  ctx: MethodContext,
  spec: S,
) => Promise<MethodOutput>;

export type SpecOf<N extends MethodSpec['name']> = Extract<MethodSpec, { name: N }>;
