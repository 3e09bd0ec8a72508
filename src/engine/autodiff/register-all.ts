import * as tf from '@tensorflow/tfjs';
import { eluGradConfig } from './elu.js';
import { expGradConfig } from './exp.js';
import { gatherNdGradConfig } from './gather-nd.js';
import { matMulGradConfig } from './mat-mul.js';
import { piecewiseConstantGradConfigs } from './piecewise-constant.js';
import { scatterNdGradConfig } from './scatter-nd.js';
import { sigmoidGradConfig } from './sigmoid.js';
import { tanhGradConfig } from './tanh.js';

/**
 * Gradient definitions that stay correct when differentiated again. The engine builds every model and loss from
 * ops whose gradients are either TF.js's own (checked second-order safe by the golden tests) or listed here.
 * Ops that must not be used inside a differentiated function (their gradients are wrong or missing at second
 * order): tf.softmax, tf.logSoftmax, tf.max/min (use constants computed outside the tape), tf.pow, tf.conv*,
 * tf.maxPool/avgPool, tf.gather (use gatherND), tf.batchNorm, tf.elu is fine after this registration.
 */
const SECOND_ORDER_SAFE: tf.GradConfig[] = [
  tanhGradConfig,
  sigmoidGradConfig,
  expGradConfig,
  eluGradConfig,
  gatherNdGradConfig,
  matMulGradConfig,
  scatterNdGradConfig,
  ...piecewiseConstantGradConfigs,
];

let registered = false;

/** Registers the second-order-safe gradients once per process (TF.js's registry is global). */
export function registerSecondOrderGradients(): void {
  if (registered) return;
  registered = true;
  // TF.js warns on each override unless PROD is set (initBackend sets it); the overrides are intentional.
  for (const config of SECOND_ORDER_SAFE) tf.registerGradient(config);
}
