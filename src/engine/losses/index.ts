import type { LossSpec } from '../../contract/request-schema.js';
import { binaryCrossentropy } from './binary-crossentropy.js';
import { categoricalCrossentropy } from './categorical-crossentropy.js';
import { huber } from './huber.js';
import type { LossFunction } from './loss-function.js';
import { meanSquaredError } from './mean-squared-error.js';

export type { FinalActivation, LossFunction } from './loss-function.js';

/** The registry: one loss per file, sparse labels share the categorical loss after one-hot encoding. */
export const LOSSES: Record<LossSpec['name'], LossFunction> = {
  mean_squared_error: meanSquaredError,
  huber,
  binary_crossentropy: binaryCrossentropy,
  categorical_crossentropy: categoricalCrossentropy,
  sparse_categorical_crossentropy: categoricalCrossentropy,
};
