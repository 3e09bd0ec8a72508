/**
 * Recurrent layers unrolled over the time steps of the actual input (no length is fixed in advance), from ops whose
 * derivatives of every order are right in TF.js: per-gate matMuls, slices of the time-major input projection,
 * elementwise arithmetic, activations through `applyActivation`, and concat to assemble sequences. Step masks
 * (Masking, Embedding mask_zero) are read from the input values, so they are constants for differentiation.
 */
import * as tf from '@tensorflow/tfjs';
import { EngineError } from '../../contract/errors.js';
import type { LayerSpec, ParsedModel, RecurrentCell } from '../../contract/model/parsed-model.js';
import { applyActivation } from './activations.js';

type Params = Record<string, tf.Tensor>;
type LayerOf<K extends LayerSpec['kind']> = Extract<LayerSpec, { kind: K }>;

export interface Recurrent {
  /** Masking: x times its constant step mask (Keras: any feature ≠ mask_value over the last axis). */
  masking(layer: LayerOf<'masking'>, x: tf.Tensor): tf.Tensor;
  /** Records an Embedding's mask_zero mask (id ≠ 0) when a recurrent layer reads it; call with the ids. */
  noteIds(layer: LayerOf<'embedding'>, ids: tf.Tensor): void;
  /**
   * The layer's output, then with return_state its final states (h, and c for LSTM). `initial` holds the initial
   * states given as inputs (h, c in order), or is empty for zeros.
   */
  rnn(layer: LayerOf<'rnn'>, x: tf.Tensor, params: Params, initial: tf.Tensor[]): tf.Tensor | tf.Tensor[];
  /** As `rnn`: states of the forward direction, then of the backward one. */
  bidirectional(
    layer: LayerOf<'bidirectional'>,
    x: tf.Tensor,
    params: Params,
    initial: tf.Tensor[],
  ): tf.Tensor | tf.Tensor[];
  /** TimeDistributed: `applyInner` runs the wrapped layer on [batch·time, ...]. */
  timeDistributed(
    layer: LayerOf<'time_distributed'>,
    x: tf.Tensor,
    applyInner: (inner: LayerSpec, folded: tf.Tensor) => tf.Tensor,
  ): tf.Tensor;
}

/** 1 where any element of the last axis differs from `value`, per leading position; the mask is [N, ..., 1]. */
function lastAxisMask(x: tf.Tensor, value: number): Float32Array {
  const values = x.dataSync();
  const width = x.shape[x.rank - 1] ?? 1;
  const mask = new Float32Array(values.length / width);
  for (let p = 0; p < mask.length; p++) {
    for (let j = p * width; j < (p + 1) * width; j++) {
      if (values[j] !== value) {
        mask[p] = 1;
        break;
      }
    }
  }
  return mask;
}

/** The state after a step: m·new + (1 − m)·previous, previous null meaning zeros; no mask keeps `next`. */
function carry(m: tf.Tensor | null, next: tf.Tensor, previous: tf.Tensor | null): tf.Tensor {
  if (!m) return next;
  const kept = tf.mul(m, next);
  return previous ? tf.add(kept, tf.mul(tf.sub(1, m), previous)) : kept;
}

const addOptional = (a: tf.Tensor, b: tf.Tensor | null) => (b ? tf.add(a, b) : a);

/**
 * Runs one direction of a recurrent layer on x [N, T, F]; `mask` is [N·T] (example-major) or null; `initial` the
 * initial states (h, and c for LSTM) or empty for zeros. Returns the step outputs [N, units] in processing order
 * (reversed time when goBackwards) and the final states. Every step's input projection x·W + b is one matMul over all
 * steps and gates; a step is one matMul h·U for all gates, then column slices.
 */
function runCell(
  cell: RecurrentCell,
  prefix: string,
  x: tf.Tensor,
  params: Params,
  mask: Float32Array | null,
  initial: tf.Tensor[] = [],
): { outputs: tf.Tensor[]; states: tf.Tensor[] } {
  const [n, steps, features] = x.shape;
  const u = cell.units;
  const param = (name: string) => {
    const t = params[`${prefix}${cell.weightScope}${name}`];
    if (!t) {
      throw new EngineError(
        'invalid_parameters',
        `No value passed for weight "${prefix}${cell.weightScope}${name}".`,
      );
    }
    return t;
  };
  const kernel = param('kernel');
  const recurrentKernel = param('recurrent_kernel');
  const width = (cell.cell === 'simple_rnn' ? 1 : cell.cell === 'gru' ? 3 : 4) * u;
  const bias = cell.useBias ? param('bias') : null;
  // With resetAfter the bias is [2, 3·units]: the input bias, then the recurrent one (inside r·(h·U_h + b_h)), each
  // kept [1, 3·units] so that it broadcasts over the batch and its gate columns slice as those of h·U do.
  const inputBias = bias && cell.resetAfter ? tf.slice(bias, [0, 0], [1, width]) : bias;
  const recurrentBias = bias && cell.resetAfter ? tf.slice(bias, [1, 0], [1, width]) : null;
  const columns = (t: tf.Tensor, from: number, count: number) => tf.slice(t, [0, from * u], [-1, count * u]);

  // Time-major projection of every step at once: rows t·N … t·N + N − 1 are step t.
  const timeMajor = tf.reshape(tf.transpose(x, [1, 0, 2]), [steps * n, features]);
  const projected = addOptional(tf.matMul(timeMajor, kernel), inputBias);
  // GRU without resetAfter multiplies r·h by U_h: its z, r and h columns are used apart.
  const splitKernel = cell.cell === 'gru' && !cell.resetAfter;
  const zrKernel = splitKernel ? columns(recurrentKernel, 0, 2) : null;
  const hKernel = splitKernel ? columns(recurrentKernel, 2, 1) : null;
  const act = (z: tf.Tensor) => applyActivation(cell.cellActivation, z);
  const gate = (z: tf.Tensor) => applyActivation(cell.recurrentActivation, z);

  let h: tf.Tensor | null = initial[0] ?? null;
  let c: tf.Tensor | null = cell.cell === 'lstm' ? (initial[1] ?? null) : null;
  const outputs: tf.Tensor[] = [];
  for (let s = 0; s < steps; s++) {
    const t = cell.goBackwards ? steps - 1 - s : s;
    const xs = tf.slice(projected, [t * n, 0], [n, width]);
    let hNew: tf.Tensor;
    let cNew: tf.Tensor | null = null;
    if (cell.cell === 'simple_rnn') {
      hNew = act(addOptional(xs, h && tf.matMul(h, recurrentKernel)));
    } else if (cell.cell === 'lstm') {
      const z = addOptional(xs, h && tf.matMul(h, recurrentKernel));
      const gates = gate(z);
      const i = columns(gates, 0, 1);
      const f = columns(gates, 1, 1);
      const o = columns(gates, 3, 1);
      cNew = addOptional(tf.mul(i, act(columns(z, 2, 1))), c && tf.mul(f, c));
      hNew = tf.mul(o, act(cNew));
    } else if (cell.resetAfter) {
      // Recurrent term h·U + b_rec (just b_rec, or nothing, while h is the zero initial state).
      const product = h ? tf.matMul(h, recurrentKernel) : null;
      const inner = product && recurrentBias ? tf.add(product, recurrentBias) : (product ?? recurrentBias);
      const zr = gate(inner ? tf.add(columns(xs, 0, 2), columns(inner, 0, 2)) : columns(xs, 0, 2));
      const z = columns(zr, 0, 1);
      const r = columns(zr, 1, 1);
      const candidate = act(addOptional(columns(xs, 2, 1), inner && tf.mul(r, columns(inner, 2, 1))));
      hNew = addOptional(tf.mul(tf.sub(1, z), candidate), h && tf.mul(z, h));
    } else {
      const zr = gate(addOptional(columns(xs, 0, 2), h && tf.matMul(h, zrKernel!)));
      const z = columns(zr, 0, 1);
      const r = columns(zr, 1, 1);
      const candidate = act(addOptional(columns(xs, 2, 1), h && tf.matMul(tf.mul(r, h), hKernel!)));
      hNew = addOptional(tf.mul(tf.sub(1, z), candidate), h && tf.mul(z, h));
    }
    let m: tf.Tensor | null = null;
    if (mask) {
      const column = new Float32Array(n);
      let all = true;
      for (let b = 0; b < n; b++) {
        column[b] = mask[b * steps + t];
        all &&= column[b] === 1;
      }
      if (!all) m = tf.tensor(column, [n, 1]);
    }
    // Keras: masked steps keep the states and repeat the previous output (zeros with zeroOutputForMask).
    const hNext = carry(m, hNew, h);
    const output = m && cell.zeroOutputForMask ? tf.mul(m, hNew) : hNext;
    h = hNext;
    if (cNew) c = carry(m, cNew, c);
    outputs.push(output);
  }
  // Final states (zeros if no step ever ran unmasked from a zero start).
  const zeros = () => tf.zeros([n, u]);
  const states = cell.cell === 'lstm' ? [h ?? zeros(), c ?? zeros()] : [h ?? zeros()];
  return { outputs, states };
}

/** [N, units] per step → [N, T, units]. */
function sequence(steps: tf.Tensor[]): tf.Tensor {
  const [n, u] = steps[0].shape;
  return tf.concat(
    steps.map((s) => tf.reshape(s, [n, 1, u])),
    1,
  );
}

function timeSeries(layer: LayerSpec, x: tf.Tensor): void {
  if (x.rank !== 3 || (x.shape[1] ?? 0) < 1) {
    throw new EngineError(
      'invalid_batch',
      `Layer "${layer.name}" expects [batch, time ≥ 1, features], got [${x.shape.join(', ')}].`,
    );
  }
}

/** The recurrent layers of a model, with the per-pass step masks their Masking/Embedding sources record. */
export function buildRecurrent(model: ParsedModel): Recurrent {
  const sources = new Set<string>();
  for (const layer of model.layers) {
    if ((layer.kind === 'rnn' || layer.kind === 'bidirectional') && layer.mask) sources.add(layer.mask);
  }
  /** Step masks [N·T] of the current pass, by source layer (recorded before any reader runs). */
  const masks = new Map<string, { mask: Float32Array; shape: number[] }>();

  const maskFor = (layer: LayerOf<'rnn'> | LayerOf<'bidirectional'>, x: tf.Tensor): Float32Array | null => {
    if (!layer.mask) return null;
    const recorded = masks.get(layer.mask);
    if (!recorded || recorded.shape[0] !== x.shape[0] || recorded.shape[1] !== x.shape[1]) {
      throw new EngineError(
        'invalid_model',
        `Layer "${layer.name}" reads the mask of "${layer.mask}", which does not match its input [${x.shape.join(', ')}].`,
      );
    }
    return recorded.mask;
  };

  return {
    masking(layer, x) {
      const mask = lastAxisMask(x, layer.maskValue);
      const shape = [...x.shape.slice(0, -1), 1];
      if (sources.has(layer.name)) masks.set(layer.name, { mask, shape: x.shape.slice(0, -1) });
      return tf.mul(x, tf.tensor(mask, shape));
    },
    noteIds(layer, ids) {
      if (!sources.has(layer.name)) return;
      const values = ids.dataSync();
      masks.set(layer.name, {
        mask: Float32Array.from(values, (v) => (v !== 0 ? 1 : 0)),
        shape: ids.shape,
      });
    },
    rnn(layer, x, params, initial) {
      timeSeries(layer, x);
      const { outputs: steps, states } = runCell(
        layer.cell,
        `${layer.name}/`,
        x,
        params,
        maskFor(layer, x),
        initial,
      );
      const y = layer.cell.returnSequences ? sequence(steps) : steps[steps.length - 1];
      return layer.cell.returnState ? [y, ...states] : y;
    },
    bidirectional(layer, x, params, initial) {
      timeSeries(layer, x);
      const mask = maskFor(layer, x);
      const prefix = `${layer.name}/`;
      const split = layer.forward.cell === 'lstm' ? 2 : 1;
      const fw = runCell(layer.forward, prefix, x, params, mask, initial.slice(0, split));
      const bw = runCell(layer.backward, prefix, x, params, mask, initial.slice(split));
      const forward = fw.outputs;
      const backward = bw.outputs;
      const merged = mergeDirections(layer, forward, backward);
      return layer.forward.returnState ? [merged, ...fw.states, ...bw.states] : merged;
    },
    timeDistributed(layer, x, applyInner) {
      const [n, steps, ...rest] = x.shape;
      const y = applyInner(layer.inner, tf.reshape(x, [n * steps, ...rest]));
      return tf.reshape(y, [n, steps, ...y.shape.slice(1)]);
    },
  };
}

/** Keras Bidirectional's merge of the two directions' step outputs (each in its processing order). */
function mergeDirections(
  layer: LayerOf<'bidirectional'>,
  forward: tf.Tensor[],
  backward: tf.Tensor[],
): tf.Tensor {
  let y: tf.Tensor;
  let yRev: tf.Tensor;
  if (layer.forward.returnSequences) {
    // Keras reverses the backward layer's sequence (in its processing order) back.
    y = sequence(forward);
    yRev = sequence([...backward].reverse());
  } else {
    y = forward[forward.length - 1];
    yRev = backward[backward.length - 1];
  }
  switch (layer.mergeMode) {
    case 'concat':
      return tf.concat([y, yRev], -1);
    case 'sum':
      return tf.add(y, yRev);
    case 'mul':
      return tf.mul(y, yRev);
    case 'ave':
      return tf.mul(tf.add(y, yRev), 0.5);
  }
}
