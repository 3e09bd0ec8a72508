/** The engine's public surface. Imports TF.js: use only in worker processes and the CLI. */
export { initBackend, type BackendChoice, type BackendInfo } from './backend.js';
export {
  compute,
  computePiece,
  isSplitMethod,
  type EngineComputeOptions,
  type PieceOutcome,
} from './compute.js';
export type { PartialResult, PieceSpec, UnitPlan } from './methods/split.js';
export { EngineError, isEngineError, type EngineErrorCode } from '../contract/errors.js';
export { prepareRequest, validateRequest, DEFAULT_MAX_DENSE_BYTES } from '../contract/request.js';
export * from '../contract/request-schema.js';
export type * from '../contract/types.js';
export type { NdArray, Float32NdArray, DType } from '../contract/ndarray.js';
