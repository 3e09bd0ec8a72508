import * as tf from '@tensorflow/tfjs';

/**
 * Comparisons and logical ops are piecewise constant: their derivative is zero. TF.js registers no gradient for
 * most of them, and a gradient does reach them in nested differentiation (e.g. through `tf.where`'s condition).
 */
const BINARY = [tf.Greater, tf.Less, tf.LessEqual, tf.Equal, tf.NotEqual, tf.LogicalAnd, tf.LogicalOr];

const zeroGradient = (kernelName: string, inputNames: string[]): tf.GradConfig => ({
  kernelName,
  inputsToSave: inputNames,
  gradFunc: (_dy, saved) => Object.fromEntries(inputNames.map((name, i) => [name, () => tf.zerosLike(saved[i])])),
});

export const piecewiseConstantGradConfigs: tf.GradConfig[] = [
  ...BINARY.map((kernel) => zeroGradient(kernel, ['a', 'b'])),
  zeroGradient(tf.LogicalNot, ['x']),
];
