/**
 * How an imported ONNX node appears in the engine's model (tf-free): the `onnx` LayerOp of `parsed-model.ts`.
 * The importer (`import.ts`) resolves everything that does not depend on the data: constant inputs are folded,
 * attributes normalized (defaults filled, negative axes made non-negative, padding made explicit), shapes inferred.
 */

/** Where a node input comes from. */
export type OnnxOperand =
  /** The output of the layer `inbound[index]` (batched, or computed from weights alone). */
  | { kind: 'layer'; index: number }
  /** A weight by name (an initializer: a parameter of θ unless fixed by the caller's selection). */
  | { kind: 'weight'; name: string }
  /** A constant folded at import (float values, row-major). */
  | { kind: 'constant'; values: number[]; shape: number[] }
  /** An omitted optional input. */
  | { kind: 'absent' };

export type OnnxAttributeValue = number | number[] | string;

/**
 * One ONNX node. `attributes` hold the normalized attributes the forward pass reads (see `onnx-ops.ts` in the
 * engine, one function per op type); axes count the batch axis when `batched`.
 */
export interface OnnxNodeOp {
  /** The ONNX op type (`Conv`, `Gemm`, ...). */
  opType: string;
  operands: OnnxOperand[];
  attributes: Record<string, OnnxAttributeValue>;
  /**
   * The output has the batch axis first (its `outputShape` is per example), or is computed from weights alone
   * (e.g. the Transpose of a weight; its `outputShape` is then the full shape).
   */
  batched: boolean;
}

/** The op types the importer accepts, as the refusal lists them. */
export const SUPPORTED_ONNX_OPS = [
  'Add',
  'AveragePool',
  'BatchNormalization',
  'Cast',
  'Concat',
  'Constant',
  'Conv',
  'ConvTranspose',
  'Div',
  'Dropout',
  'Elu',
  'Erf',
  'Exp',
  'Flatten',
  'Gather',
  'Gemm',
  'GlobalAveragePool',
  'Identity',
  'LayerNormalization',
  'LeakyRelu',
  'Log',
  'LogSoftmax',
  'MatMul',
  'MaxPool',
  'Mul',
  'Neg',
  'Pad',
  'Pow',
  'ReduceMean',
  'ReduceSum',
  'Relu',
  'Reshape',
  'Selu',
  'Shape',
  'Sigmoid',
  'Softmax',
  'Softplus',
  'Sqrt',
  'Squeeze',
  'Sub',
  'Tanh',
  'Transpose',
  'Unsqueeze',
] as const;
