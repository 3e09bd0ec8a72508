import * as tf from '@tensorflow/tfjs';

/** Swaps the last two axes. */
const swapLast = (t: tf.Tensor): tf.Tensor => {
  const perm = t.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.transpose(t, perm);
};

/**
 * The gradient of C = op(A)·op(B) with every transpose written out as its own op, so that each product is a plain
 * matMul: dA = dC·Bᵀ and dB = Aᵀ·dC. TF.js's own gradient asks for matMul with transposeA/transposeB, which the wasm
 * backend runs outside its XNNPACK fast path, 5–10× slower (bench/matmul-transpose.ts measures both). Exact either way;
 * its own gradient is again a matMul and transposes, so it stays correct at every order.
 */
export const matMulGradConfig: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const g = dy as tf.Tensor;
    const left = transposeA ? swapLast(a) : a;
    const right = transposeB ? swapLast(b) : b;
    return {
      a: () => {
        const da = tf.matMul(g, swapLast(right));
        return transposeA ? swapLast(da) : da;
      },
      b: () => {
        const db = tf.matMul(swapLast(left), g);
        return transposeB ? swapLast(db) : db;
      },
    };
  },
};
