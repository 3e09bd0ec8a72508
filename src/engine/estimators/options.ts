/** Checks of estimator options shared by the estimators (internal; not re-exported). */
import { EngineError } from '../../contract/errors.js';
import type { LinearOperator } from './linear-operator.js';

/** @throws EngineError('invalid_method') unless `value` is an integer in [min, max]. */
export function checkInteger(
  name: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new EngineError('invalid_method', `${name} must be an integer ${range}, got ${value}`, {
      [name]: value,
    });
  }
  return value;
}

/** @throws EngineError('invalid_method') unless `value` is a finite number > 0 (or ≥ 0 with `allowZero`). */
export function checkPositive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new EngineError(
      'invalid_method',
      `${name} must be a finite number ${allowZero ? '≥' : '>'} 0, got ${value}`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

/** @throws EngineError('invalid_array') unless `v` has the operator's size and finite entries. */
export function checkVector(name: string, v: Float64Array, op: LinearOperator): Float64Array {
  if (v.length !== op.size) {
    throw new EngineError('invalid_array', `${name} has length ${v.length}, expected ${op.size}`);
  }
  if (!v.every(Number.isFinite)) throw new EngineError('invalid_array', `${name} contains non-finite values`);
  return v;
}
