/**
 * Flat gather indices for convolution patches and pooling windows over NHWC inputs (tf-free). Convolution and
 * pooling are computed as gathers (`take`) plus matMul/sum because TF.js's conv and pooling gradients are not
 * differentiable again. Index −1 marks padding (`take` reads it as 0).
 */
import type { Padding } from './parsed-model.js';

export interface WindowGeometry {
  height: number;
  width: number;
  channels: number;
  kernel: [number, number];
  strides: [number, number];
  dilation: [number, number];
  /** TF's `valid`/`same`, or explicit pads per axis [[top, bottom], [left, right]] (ONNX `pads`). */
  padding: Padding | ExplicitPadding;
}

export interface ExplicitPadding {
  pads: [[number, number], [number, number]];
}

/** One axis's padding: TF's rule, or [before, after] given explicitly. */
type AxisPadding = Padding | [number, number];

const axisPadding = (padding: Padding | ExplicitPadding, axis: 0 | 1): AxisPadding =>
  typeof padding === 'string' ? padding : padding.pads[axis];

interface AxisPlan {
  out: number;
  padBefore: number;
}

/**
 * TensorFlow's window placement along one axis. `same`: out = ceil(in/stride) and
 * pad_total = max((out − 1)·stride + (k − 1)·dilation + 1 − in, 0), of which floor(pad_total/2) goes before;
 * `valid`: out = ceil((in − (k − 1)·dilation)/stride), no padding; explicit [before, after]:
 * out = floor((in + before + after − (k − 1)·dilation − 1)/stride) + 1.
 */
function planAxis(
  input: number,
  k: number,
  stride: number,
  dilation: number,
  padding: AxisPadding,
): AxisPlan {
  const effective = (k - 1) * dilation + 1;
  if (Array.isArray(padding)) {
    return {
      out: Math.floor((input + padding[0] + padding[1] - effective) / stride) + 1,
      padBefore: padding[0],
    };
  }
  if (padding === 'valid') return { out: Math.ceil((input - effective + 1) / stride), padBefore: 0 };
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + effective - input, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

/** Output length of a convolution or pooling window along one axis, as TensorFlow computes it (see planAxis). */
export function windowOutputLength(
  input: number,
  k: number,
  stride: number,
  dilation: number,
  padding: Padding,
) {
  return planAxis(input, k, stride, dilation, padding).out;
}

export interface WindowTemplate {
  outHeight: number;
  outWidth: number;
  /** Window positions per output pixel: kernel[0]·kernel[1]. */
  windowSize: number;
  /** [outHeight, outWidth, windowSize] spatial offsets (row·width + col) into one example, −1 for padding. */
  spatial: Int32Array;
}

/** The spatial offsets every output pixel reads, shared by all examples and channels. */
export function windowTemplate(g: WindowGeometry): WindowTemplate {
  const rows = planAxis(g.height, g.kernel[0], g.strides[0], g.dilation[0], axisPadding(g.padding, 0));
  const cols = planAxis(g.width, g.kernel[1], g.strides[1], g.dilation[1], axisPadding(g.padding, 1));
  const windowSize = g.kernel[0] * g.kernel[1];
  const spatial = new Int32Array(rows.out * cols.out * windowSize);
  let i = 0;
  for (let oh = 0; oh < rows.out; oh++) {
    for (let ow = 0; ow < cols.out; ow++) {
      for (let kh = 0; kh < g.kernel[0]; kh++) {
        const ih = oh * g.strides[0] + kh * g.dilation[0] - rows.padBefore;
        for (let kw = 0; kw < g.kernel[1]; kw++) {
          const iw = ow * g.strides[1] + kw * g.dilation[1] - cols.padBefore;
          const inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width;
          spatial[i++] = inside ? ih * g.width + iw : -1;
        }
      }
    }
  }
  return { outHeight: rows.out, outWidth: cols.out, windowSize, spatial };
}

/**
 * im2col indices into a flat [batch, height, width, channels] input, laid out [batch, outH, outW, kh, kw, channels]
 * so that a matMul with the kernel reshaped to [kh·kw·channels, filters] is the convolution.
 */
export function convPatchIndices(
  g: WindowGeometry,
  batch: number,
): { indices: Int32Array; template: WindowTemplate } {
  const t = windowTemplate(g);
  const c = g.channels;
  const perExample = t.spatial.length * c;
  const exampleSize = g.height * g.width * c;
  const indices = new Int32Array(batch * perExample);
  for (let n = 0; n < batch; n++) {
    let i = n * perExample;
    for (const s of t.spatial) {
      const base = n * exampleSize + s * c;
      for (let ch = 0; ch < c; ch++) indices[i++] = s < 0 ? -1 : base + ch;
    }
  }
  return { indices, template: t };
}

/** Pooling window indices into a flat NHWC input, laid out [batch, outH, outW, channels, window], −1 for padding. */
export function poolWindowIndices(
  g: WindowGeometry,
  batch: number,
): { indices: Int32Array; template: WindowTemplate } {
  const t = windowTemplate(g);
  const c = g.channels;
  const pixels = t.outHeight * t.outWidth;
  const exampleSize = g.height * g.width * c;
  const indices = new Int32Array(batch * pixels * c * t.windowSize);
  let i = 0;
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < pixels; p++) {
      const window = t.spatial.subarray(p * t.windowSize, (p + 1) * t.windowSize);
      for (let ch = 0; ch < c; ch++) {
        for (const s of window) indices[i++] = s < 0 ? -1 : n * exampleSize + s * c + ch;
      }
    }
  }
  return { indices, template: t };
}

/** Number of non-padding positions in each output pixel's window, [outH·outW]: TF's average-pool divisor. */
export function windowCounts(t: WindowTemplate): Float32Array {
  const counts = new Float32Array(t.outHeight * t.outWidth);
  for (let p = 0; p < counts.length; p++) {
    let count = 0;
    for (let k = 0; k < t.windowSize; k++) if (t.spatial[p * t.windowSize + k] >= 0) count++;
    counts[p] = count;
  }
  return counts;
}

/**
 * For max pooling: the flat input index of each window's maximum, [batch, outH, outW, channels], chosen from the
 * current values (padding excluded; the first maximum wins a tie, a window of NaN keeps its first element).
 */
export function maxPoolArgmax(
  values: ArrayLike<number>,
  g: WindowGeometry,
  t: WindowTemplate,
  batch: number,
): Int32Array {
  const c = g.channels;
  const pixels = t.outHeight * t.outWidth;
  const exampleSize = g.height * g.width * c;
  const out = new Int32Array(batch * pixels * c);
  let i = 0;
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < pixels; p++) {
      const window = t.spatial.subarray(p * t.windowSize, (p + 1) * t.windowSize);
      for (let ch = 0; ch < c; ch++) {
        let best = -1;
        let bestValue = -Infinity;
        for (const s of window) {
          if (s < 0) continue;
          const index = n * exampleSize + s * c + ch;
          if (best < 0 || values[index] > bestValue) {
            best = index;
            bestValue = values[index];
          }
        }
        out[i++] = best;
      }
    }
  }
  return out;
}

/**
 * im2col indices for a transposed convolution (Conv2DTranspose) of an NHWC input `g` to an output of
 * `outHeight`×`outWidth`, laid out [batch, outH, outW, kh, kw, channels] (−1 where no input pixel reaches):
 * output row oh takes input row ih through kernel row kh when oh = ih·stride + kh − padBefore, padBefore being
 * that of the convolution from the output back to the input (TensorFlow's conv2d_transpose is its gradient).
 * A matMul with the kernel [kh, kw, filters, cin] transposed to [kh·kw·cin, filters] is the layer.
 */
export function transposedConvPatchIndices(
  g: Omit<WindowGeometry, 'dilation'>,
  outHeight: number,
  outWidth: number,
  batch: number,
): Int32Array {
  const rows = planAxis(outHeight, g.kernel[0], g.strides[0], 1, axisPadding(g.padding, 0));
  const cols = planAxis(outWidth, g.kernel[1], g.strides[1], 1, axisPadding(g.padding, 1));
  const source = (o: number, k: number, stride: number, padBefore: number, size: number) => {
    const t = o + padBefore - k;
    if (t < 0 || t % stride !== 0) return -1;
    const i = t / stride;
    return i < size ? i : -1;
  };
  const c = g.channels;
  const exampleSize = g.height * g.width * c;
  const perExample = outHeight * outWidth * g.kernel[0] * g.kernel[1] * c;
  const indices = new Int32Array(batch * perExample);
  let i = 0;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        for (let kh = 0; kh < g.kernel[0]; kh++) {
          const ih = source(oh, kh, g.strides[0], rows.padBefore, g.height);
          for (let kw = 0; kw < g.kernel[1]; kw++) {
            const iw = source(ow, kw, g.strides[1], cols.padBefore, g.width);
            const base = n * exampleSize + (ih * g.width + iw) * c;
            for (let ch = 0; ch < c; ch++) indices[i++] = ih < 0 || iw < 0 ? -1 : base + ch;
          }
        }
      }
    }
  }
  return indices;
}
