/**
 * Targets drawn from the model's own predictive distribution, for Monte-Carlo Fisher / KFAC estimates of the GGN.
 *
 * For a loss that is (a multiple β of) the negative log-likelihood of an exponential family in the values z at the
 * split point, the Fisher equals the GGN: with ŷ drawn from the model's distribution at z,
 *
 *   E_ŷ[∇_zℓ(z, ŷ) ∇_zℓ(z, ŷ)ᵀ] / β = ∇²_zℓ(z, ·)   (for the canonical split: logits of a softmax / sigmoid, or a
 *                                                     linear output under MSE),
 *
 * and in general the expected loss Hessian E_ŷ[∇²_zℓ(z, ŷ)]. The distributions, per position (an example, or one
 * row of the last axis of a higher-rank output):
 *
 * - (sparse) categorical cross-entropy: ŷ ~ Categorical(p) as a one-hot row, p = softmax(z) when fused or
 *   `fromLogits`, else the output normalised over the last axis and clipped like Keras (ε = 1e-7); β = 1, as the loss
 *   is −log p_ŷ itself;
 * - binary cross-entropy: ŷ_c ~ Bernoulli(p_c) independently, p = sigmoid(z) when fused or `fromLogits`, else the
 *   output clipped to [ε, 1 − ε]; the loss is the mean over the C entries, so β = 1/C;
 * - mean squared error: ŷ = y + e, e ~ N(0, ½ I), whose negative log-likelihood is ‖ŷ − y‖² + const, so the loss
 *   (1/C)‖ŷ − y‖² is (1/C)·NLL and β = 1/C (E[∇ℓ∇ℓᵀ] = (2/C²) I against ∇²ℓ = (2/C) I).
 *
 * Huber has no likelihood here and is refused. Draws are seeded by the caller's `Rng`, so the same seed gives the same
 * targets on every machine and backend.
 */
import { EngineError } from '../../contract/errors.js';
import type { LossSpec } from '../../contract/request-schema.js';
import type { Rng } from '../estimators/rng.js';
import type { FinalActivation } from '../losses/index.js';

/** Keras clips probabilities to [ε, 1 − ε] (losses/reduce.ts). */
const EPSILON = 1e-7;

type Likelihood = 'categorical' | 'bernoulli' | 'gaussian';

/**
 * The likelihood whose negative log the loss is, up to the scale β.
 * @throws EngineError('invalid_loss') for a loss that is no such multiple (huber)
 */
function likelihoodOf(loss: LossSpec): Likelihood {
  switch (loss.name) {
    case 'categorical_crossentropy':
    case 'sparse_categorical_crossentropy':
      return 'categorical';
    case 'binary_crossentropy':
      return 'bernoulli';
    case 'mean_squared_error':
      return 'gaussian';
    default:
      throw new EngineError(
        'invalid_loss',
        `The Monte-Carlo Fisher samples targets from the model's predictive distribution, so it needs a loss that ` +
          `is a negative log-likelihood (categorical, sparse categorical or binary cross-entropy, or mean squared ` +
          `error); "${loss.name}" is not one. Use type "empirical" (the empirical Fisher of the given targets) or ` +
          `curvature "ggn" (exact) instead.`,
      );
  }
}

/**
 * β: the per-position scale of the loss relative to the negative log-likelihood of the sampled distribution, so
 * that E[∇ℓ(ŷ)∇ℓ(ŷ)ᵀ]/β = ∇²ℓ for the per-position loss (1 for the cross-entropies over classes; 1/C for binary
 * cross-entropy and mean squared error, means over the C entries of the last axis).
 * @param shape the targets' shape [N, ...out]
 * @throws EngineError('invalid_loss') for a loss without a likelihood (huber)
 */
export function likelihoodScale(loss: LossSpec, shape: readonly number[]): number {
  const kind = likelihoodOf(loss);
  return kind === 'categorical' ? 1 : 1 / shape[shape.length - 1];
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** The network's final activation on one row (the loss's view of its input when not fused). */
function activateRow(row: Float64Array, activation: FinalActivation): Float64Array {
  if (activation === 'sigmoid') return row.map(sigmoid);
  if (activation === 'softmax') return softmaxRow(row);
  return row;
}

function softmaxRow(row: Float64Array): Float64Array {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  const e = row.map((x) => Math.exp(x - max));
  let sum = 0;
  for (const x of e) sum += x;
  return e.map((x) => x / sum);
}

/** Per-position probabilities of the categorical or Bernoulli distribution, mirroring the loss functions. */
function probabilities(
  z: Float64Array,
  kind: 'categorical' | 'bernoulli',
  loss: LossSpec,
  finalActivation: FinalActivation,
): Float64Array {
  if (kind === 'categorical') {
    if (loss.fromLogits || finalActivation === 'softmax') return softmaxRow(z);
    // Keras: y / Σy, clipped; renormalised here so that it is a distribution.
    const y = activateRow(z, finalActivation);
    let sum = 0;
    for (const v of y) sum += v;
    const p = y.map((v) => Math.min(1 - EPSILON, Math.max(EPSILON, sum > 0 ? v / sum : 0)));
    let total = 0;
    for (const v of p) total += v;
    return p.map((v) => v / total);
  }
  if (loss.fromLogits || finalActivation === 'sigmoid') return z.map(sigmoid);
  return activateRow(z, finalActivation).map((v) => Math.min(1 - EPSILON, Math.max(EPSILON, v)));
}

/**
 * S sampled target arrays, each with the targets' float shape [N, ...out] (one-hot rows for (sparse) categorical
 * cross-entropy, 0/1 for binary cross-entropy, reals for mean squared error).
 * @param outputs the values at the objective's split point, row-major in `shape`: logits when the final softmax /
 * sigmoid is fused (`finalActivation` 'softmax' / 'sigmoid') or the loss is `fromLogits`, else the network output
 * @param shape [N, ...out]; the last axis holds the classes (entries) of one position
 * @param finalActivation the objective's fused activation ('linear' when none)
 * @throws EngineError('invalid_loss') for a loss without a likelihood (huber)
 */
export function sampleTargets(
  outputs: Float32Array,
  shape: number[],
  loss: LossSpec,
  finalActivation: FinalActivation,
  samples: number,
  rng: Rng,
): Float32Array[] {
  const kind = likelihoodOf(loss);
  const classes = shape[shape.length - 1];
  const positions = outputs.length / classes;
  if (!Number.isInteger(positions) || outputs.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new RangeError(`sampleTargets: ${outputs.length} outputs do not fill shape [${shape.join(', ')}]`);
  }
  // Per-position distributions, computed once.
  const params: Float64Array[] = [];
  for (let i = 0; i < positions; i++) {
    const z = Float64Array.from(outputs.subarray(i * classes, (i + 1) * classes));
    params.push(
      kind === 'gaussian' ? activateRow(z, finalActivation) : probabilities(z, kind, loss, finalActivation),
    );
  }
  const noise = Math.SQRT1_2; // standard deviation of N(0, ½)
  const out: Float32Array[] = [];
  for (let s = 0; s < samples; s++) {
    const t = new Float32Array(outputs.length);
    for (let i = 0; i < positions; i++) {
      const p = params[i];
      const base = i * classes;
      if (kind === 'categorical') {
        // Inverse CDF; rounding that leaves u above the last partial sum picks the last class with p > 0.
        const u = rng.uniform();
        let chosen = -1;
        let cumulative = 0;
        for (let c = 0; c < classes; c++) {
          if (p[c] <= 0) continue;
          chosen = c;
          cumulative += p[c];
          if (u < cumulative) break;
        }
        t[base + Math.max(chosen, 0)] = 1;
      } else if (kind === 'bernoulli') {
        for (let c = 0; c < classes; c++) t[base + c] = rng.uniform() < p[c] ? 1 : 0;
      } else {
        for (let c = 0; c < classes; c++) t[base + c] = p[c] + noise * rng.normal();
      }
    }
    out.push(t);
  }
  return out;
}
