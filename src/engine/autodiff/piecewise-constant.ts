import * as tf from '@tensorflow/tfjs';

/**
 * Comparisons and logical ops are piecewise constant: their derivative is zero. TF.js registers no gradient for
 * most of them, and a gradient does reach them in nested differentiation (e.g. through `tf.where`'s condition).
 */
const BINARY = [tf.Greater, tf.Less, tf.LessEqual, tf.Equal, tf.NotEqual, tf.LogicalAnd, tf.LogicalOr];

const zeroGradient = (kernelName: string, inputNames: string[]): tf.GradConfig => ({
  kernelName,
  inputsToSave: inputNames,
  // Gradients must be float even for boolean inputs (LogicalNot, LogicalAnd, ...).
  gradFunc: (_dy, saved) =>
    Object.fromEntries(inputNames.map((name, i) => [name, () => tf.zeros(saved[i].shape, 'float32')])),
});

export const piecewiseConstantGradConfigs: tf.GradConfig[] = [
  ...BINARY.map((kernel) => zeroGradient(kernel, ['a', 'b'])),
  zeroGradient(tf.LogicalNot, ['x']),
];
