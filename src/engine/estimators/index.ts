/** Matrix-free estimators: they take any symmetric {@link LinearOperator} and never know which curvature it is. */
export {
  applyOperator,
  denseOperator,
  scaledOperator,
  shiftedOperator,
  type LinearOperator,
} from './linear-operator.js';
export { createRng, type Rng } from './rng.js';
export {
  axpy,
  dot,
  norm,
  orthogonalizeAgainst,
  scale,
  symmetricEigen,
  symmetricTridiagonalEigen,
  thinQr,
  tridiagonalEigenRows,
  type SymmetricEigen,
  type ThinQr,
} from './dense-linalg.js';
export { LanczosProcess, type LanczosStepOutcome } from './lanczos-process.js';
export {
  lanczosEigs,
  type EigenWhich,
  type LanczosEigsResult,
  type LanczosOptions,
  type LanczosProgress,
} from './lanczos.js';
export {
  hutchinsonDiagonal,
  hutchinsonTrace,
  type DiagonalEstimate,
  type HutchinsonOptions,
  type ProbeDistribution,
  type TraceEstimate,
} from './hutchinson.js';
export { hutchppTrace, type HutchppEstimate, type HutchppOptions } from './hutchpp.js';
export { exactDiagonal, exactTrace } from './exact.js';
export {
  stochasticLanczosQuadrature,
  type QuadratureRule,
  type SlqOptions,
  type SpectralDensity,
} from './slq.js';
export { conjugateGradient, type CgOptions, type CgResult } from './cg.js';
