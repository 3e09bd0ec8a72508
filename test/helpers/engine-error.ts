import assert from 'node:assert/strict';
import { EngineError, type EngineErrorCode } from '../../src/contract/errors.js';

/** Asserts that `fn` throws an EngineError with this code, a message matching `message`, and these details. */
export function assertEngineError(
  fn: () => unknown,
  code: EngineErrorCode,
  message: RegExp,
  details?: Record<string, unknown>,
): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    for (const [key, value] of Object.entries(details ?? {})) assert.deepEqual(e.details?.[key], value, key);
    return true;
  });
}
