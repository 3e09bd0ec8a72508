import { denseColumnsSplit } from './dense-columns.js';
import type { SpecOf } from './method.js';
import { splitOrWhole } from './split.js';

/** The dense Fisher by columns, in pieces. */
export const fisherSplit = denseColumnsSplit<SpecOf<'fisher'>>('fisher', 'fvp-columns');

/**
 * Dense Fisher (Monte-Carlo or empirical, see operators/fisher-operator.ts) from P Fisher-vector products in
 * blocks, optionally block-diagonal by layer or weight tensor. Checked by its symmetry, sampled columns against
 * fresh products, and its product against the per-example gradients (an independent, first-order route).
 */
export const fisher = splitOrWhole(fisherSplit);
