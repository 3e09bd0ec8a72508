/**
 * Activations built only from ops whose gradients stay correct when differentiated again (see
 * `autodiff/register-all.ts`). Kinks are written with relu/minimum; elu and selu never evaluate exp at large
 * positive inputs (an unselected `where` branch there would turn gradients into 0·∞ = NaN); softmax shifts by a
 * row maximum read from the data as a constant, so no max op enters the tape.
 */
import * as tf from '@tensorflow/tfjs';
import type { ActivationName } from '../../contract/model/activation-names.js';

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** The row maximum over the last axis, computed from the current values as a constant (keepDims shape). */
function rowMax(z: tf.Tensor): tf.Tensor {
  const values = z.dataSync();
  const n = z.shape[z.shape.length - 1] ?? 1;
  const rows = values.length / n;
  const max = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = r * n; j < (r + 1) * n; j++) if (values[j] > m) m = values[j];
    // A row of all −∞ (or NaN) keeps a zero shift so the result shows the problem instead of hiding it.
    max[r] = Number.isFinite(m) ? m : 0;
  }
  return tf.tensor(max, [...z.shape.slice(0, -1), 1]);
}

/**
 * Softmax over the last axis: exp(z − m) / Σ exp(z − m), m = the row maximum taken as a constant. The shift
 * cancels exactly, so derivatives of every order are those of softmax.
 */
export function softmax(z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const e = tf.exp(tf.sub(z, rowMax(z)));
    return tf.div(e, tf.sum(e, -1, true));
  });
}

/** log softmax over the last axis: (z − m) − log Σ exp(z − m), m = the row maximum as a constant. */
export function logSoftmax(z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const shifted = tf.sub(z, rowMax(z));
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), -1, true)));
  });
}

/** exp(min(x, 0)) − 1 without evaluating exp at large positive x (an unused branch there would poison gradients). */
export const expm1OfNegativePart = (x: tf.Tensor) => tf.sub(tf.exp(tf.neg(tf.relu(tf.neg(x)))), 1);

/**
 * Applies an activation with TF.js Layers semantics (hard_sigmoid = clip(0.2x + 0.5, 0, 1), gelu in its exact
 * erf form, swish = x·σ(x)).
 */
export function applyActivation(name: ActivationName | 'linear', x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.tidy(() => tf.minimum(tf.relu(x), 6));
    case 'elu':
      return tf.tidy(() => tf.add(tf.relu(x), expm1OfNegativePart(x)));
    case 'selu':
      return tf.tidy(() =>
        tf.mul(SELU_SCALE, tf.add(tf.relu(x), tf.mul(SELU_ALPHA, expm1OfNegativePart(x)))),
      );
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'hard_sigmoid':
      return tf.tidy(() => tf.minimum(tf.relu(tf.add(tf.mul(x, 0.2), 0.5)), 1));
    case 'tanh':
      return tf.tanh(x);
    case 'softplus':
      return tf.softplus(x);
    case 'softsign':
      return tf.tidy(() => tf.div(x, tf.add(tf.abs(x), 1)));
    case 'swish':
      return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
    case 'gelu':
      return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
    case 'softmax':
      return softmax(x);
  }
}
