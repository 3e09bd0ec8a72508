/** The engine's public surface. Imports TF.js: use only in worker processes and the CLI. */
export { initBackend, type BackendChoice, type BackendInfo } from './backend.js';
export { compute, type EngineComputeOptions } from './compute.js';
export { EngineError, isEngineError, type EngineErrorCode } from './errors.js';
export { prepareRequest, validateRequest, DEFAULT_MAX_DENSE_BYTES } from './request.js';
export * from './spec.js';
export type * from './types.js';
export type { NdArray, Float32NdArray, DType } from './ndarray.js';
