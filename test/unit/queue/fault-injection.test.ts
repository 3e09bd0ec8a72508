/** The test-only fault injection's specification (src/queue/fault-injection.ts): parsed strictly, inert unset. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { injectFault, parseFaults } from '../../../src/queue/fault-injection.js';

describe('HESSIAN_FAULT_INJECTION', () => {
  it('parses stages, actions, seeds and once-files', () => {
    assert.deepEqual(parseFaults('startup:delay=3000:once=/tmp/x,compute:kill:seed=666'), [
      { stage: 'startup', action: 'delay', ms: 3000, once: '/tmp/x' },
      { stage: 'compute', action: 'kill', ms: 0, seed: 666 },
    ]);
  });

  it('refuses a malformed specification instead of injecting nothing', () => {
    for (const spec of [
      'boot:exit',
      'startup:explode',
      'compute:delay=5',
      'write:exit:sed=1',
      'startup:exit:seed=1',
    ])
      assert.throws(() => parseFaults(spec), /HESSIAN_FAULT_INJECTION/, spec);
  });

  it('does nothing when unset', () => {
    assert.equal(process.env.HESSIAN_FAULT_INJECTION, undefined);
    assert.deepEqual(parseFaults(undefined), []);
    assert.equal(injectFault('startup'), undefined);
  });
});
