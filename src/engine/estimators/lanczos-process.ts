/**
 * The Lanczos recurrence with full reorthogonalization, shared by the eigensolver and by stochastic Lanczos
 * quadrature. After m steps it holds an orthonormal basis V_m of the Krylov space K_m(A, v₁) and the
 * tridiagonal T_m = V_mᵀ A V_m (diagonal α, off-diagonal β), with
 *
 *   A V_m = V_m T_m + β_m v_{m+1} e_mᵀ.
 *
 * Every new vector is orthogonalized twice against the whole basis: this costs O(n·m) per step and O(n·m)
 * memory, but keeps V_m orthonormal to working precision, so there are no spurious ("ghost") copies of
 * converged eigenvalues (Paige 1971; Parlett, The Symmetric Eigenvalue Problem, ch. 13).
 */
import { applyOperator, type LinearOperator } from './linear-operator.js';
import { axpy, dot, norm, orthogonalizeAgainst, scale } from './dense-linalg.js';
import type { Rng } from './rng.js';

/**
 * β below this fraction of ‖T‖ (a lower bound for ‖A‖) means v₁ lies, to working precision, in an invariant
 * subspace: the Krylov space is exhausted. In float64 an exhausted step leaves β ≈ 1e-16‖A‖.
 */
const BREAKDOWN_TOLERANCE = 1e-12;

export type LanczosStepOutcome = 'continue' | 'breakdown' | 'exhausted';

export class LanczosProcess {
  /** Orthonormal Lanczos vectors v₁ … v_m. */
  readonly basis: Float64Array[] = [];
  /** Diagonal of T_m. */
  readonly alpha: number[] = [];
  /** beta[j] couples v_{j+1} and v_{j+2}; beta[m − 1] is the residual coefficient β_m of the last step. */
  readonly beta: number[] = [];
  /** Largest Gershgorin row sum of T so far: a lower bound on ‖A‖ that sets the breakdown scale. */
  private normEstimate = 0;
  private next: Float64Array | null;

  /** @param start the starting vector v₁ (any non-zero vector of length `op.size`; it is normalized). */
  constructor(
    private readonly op: LinearOperator,
    start: Float64Array,
  ) {
    const s = norm(start);
    if (!(s > 0)) throw new Error('Lanczos start vector must be non-zero');
    this.next = scale(1 / s, Float64Array.from(start));
  }

  get steps(): number {
    return this.basis.length;
  }

  /** β_m, the norm of the part of A v_m outside the current basis (0 after a restart). */
  get residualBeta(): number {
    return this.beta.length ? this.beta[this.beta.length - 1] : 0;
  }

  /** Off-diagonal of T_m (length m − 1). */
  offDiagonal(): number[] {
    return this.beta.slice(0, Math.max(0, this.beta.length - 1));
  }

  /**
   * One Lanczos step: v_{m+1} from A v_m. Returns 'exhausted' once m = n (nothing left to add), 'breakdown'
   * when A v_m lies in the basis (call {@link restart} to go on), else 'continue'.
   */
  async step(): Promise<LanczosStepOutcome> {
    const v = this.next;
    if (v === null) throw new Error('Lanczos step after breakdown or exhaustion without a restart');
    this.next = null;
    const m = this.basis.length;
    this.basis.push(v);
    const w = Float64Array.from(await applyOperator(this.op, v));
    const a = dot(v, w);
    axpy(-a, v, w);
    if (m > 0) axpy(-this.beta[m - 1], this.basis[m - 1], w);
    orthogonalizeAgainst(w, this.basis);
    const b = norm(w);
    this.alpha.push(a);
    this.beta.push(b);
    const previous = m > 0 ? Math.abs(this.beta[m - 1]) : 0;
    this.normEstimate = Math.max(this.normEstimate, Math.abs(a) + b + previous);
    if (this.basis.length >= this.op.size) return 'exhausted';
    if (b <= BREAKDOWN_TOLERANCE * this.normEstimate) return 'breakdown';
    this.next = scale(1 / b, w);
    return 'continue';
  }

  /**
   * Continues after a breakdown from a random vector orthogonal to the basis, setting the coupling β_m to 0:
   * T becomes block diagonal and A V = V T + β v eᵀ still holds, so Ritz pairs stay valid. Returns false when
   * no direction is left (the basis spans the space).
   */
  restart(rng: Rng): boolean {
    const w = orthogonalizeAgainst(rng.gaussianVector(this.op.size), this.basis);
    const remaining = norm(w);
    // A Gaussian vector keeps about √((n − m)/n) of its norm outside an m-dimensional subspace.
    if (!(remaining > 1e-8 * Math.sqrt(this.op.size))) return false;
    this.beta[this.beta.length - 1] = 0;
    this.next = scale(1 / remaining, w);
    return true;
  }
}
