/** The data layer: `.npy` / `.npz` / JSON decoding, `.npy` encoding, and batch checks. Free of TF.js. */
export { parseNpy, encodeNpy } from './npy.js';
export { parseNpz, type NpzOptions } from './npz.js';
export { parseJsonArray, type JsonArrayOptions } from './json-array.js';
export {
  decodeArrayFile,
  decodeBatchFile,
  decodeBatchFromFiles,
  decodeBatchFromJson,
  decodeBatchFromNpz,
  type ArrayFile,
  type Batch,
  type DecodeOptions,
} from './decode.js';
export { checkBatch, checkTokenIds, type BatchCheckRequest, type ModelShape } from './batch-checks.js';
export { formatPosition, formatShape, unravelIndex } from './positions.js';
