import * as tf from '@tensorflow/tfjs';
import type { Objective } from '../objective.js';
import type { Progress } from '../progress.js';
import { readFloat32 } from '../tensor-io.js';
import { lossHessianProduct, vectorJacobianProduct } from './ggn-operator.js';

/**
 * The pieces of G = Σₙ Jₙᵀ Hₙ Jₙ computed explicitly: J (rows = logits, N·C × P) by one reverse pass per logit,
 * and the per-example loss Hessians Hₙ (C × C) by C products on the loss alone (probing all examples at once,
 * since H_ℓ is block-diagonal by example). Cheaper than P operator products when N·C < P.
 */
export interface ExplicitGgnFactors {
  numExamples: number;
  outputs: number;
  /** Row-major (N·C) × P. */
  jacobian: Float32Array;
  /** Row-major N × C × C. */
  lossHessians: Float64Array;
}

export async function explicitGgnFactors(
  objective: Objective,
  progress: Progress,
): Promise<ExplicitGgnFactors> {
  const numExamples = objective.numExamples;
  const outputs = objective.outputsPerExample;
  const rows = numExamples * outputs;
  const p = objective.numParams;
  const logits = tf.keep(tf.tidy(() => objective.logits(objective.theta)));
  try {
    const jacobian = new Float32Array(rows * p);
    const unit = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      unit[r] = 1;
      const row = readFloat32(() => vectorJacobianProduct(objective, tf.tensor(unit, logits.shape)));
      unit[r] = 0;
      jacobian.set(row, r * p);
      await progress.unit();
    }
    const lossHessians = new Float64Array(numExamples * outputs * outputs);
    const probe = new Float32Array(rows);
    for (let c = 0; c < outputs; c++) {
      probe.fill(0);
      for (let n = 0; n < numExamples; n++) probe[n * outputs + c] = 1;
      const column = readFloat32(() => lossHessianProduct(objective, logits, tf.tensor(probe, logits.shape)));
      for (let n = 0; n < numExamples; n++) {
        for (let i = 0; i < outputs; i++) {
          lossHessians[(n * outputs + i) * outputs + c] = column[n * outputs + i];
        }
      }
      await progress.unit();
    }
    return { numExamples, outputs, jacobian, lossHessians };
  } finally {
    logits.dispose();
  }
}

/** H J, block by block (row-major (N·C) × P). */
export function lossHessianTimesJacobian(f: ExplicitGgnFactors, p: number): Float32Array {
  const { numExamples, outputs, jacobian, lossHessians } = f;
  const out = new Float32Array(jacobian.length);
  const acc = new Float64Array(p);
  for (let n = 0; n < numExamples; n++) {
    for (let i = 0; i < outputs; i++) {
      acc.fill(0);
      for (let k = 0; k < outputs; k++) {
        const h = lossHessians[(n * outputs + i) * outputs + k];
        if (h === 0) continue;
        const row = jacobian.subarray((n * outputs + k) * p, (n * outputs + k + 1) * p);
        for (let j = 0; j < p; j++) acc[j] += h * row[j];
      }
      out.set(acc, (n * outputs + i) * p);
    }
  }
  return out;
}
