/**
 * The directional check must be able to fail: a curvature operator that is off by 20% (the size of error TF.js's
 * own nested gradients make) is caught, the true one passes.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../../src/engine/backend.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { buildObjective } from '../../../src/engine/objective.js';
import { hessianOperator } from '../../../src/engine/operators/hessian-operator.js';
import { prepareRequest } from '../../../src/contract/request.js';
import { directionalCheck } from '../../../src/engine/verification.js';
import { loadGoldenCase } from '../../helpers/golden.js';

describe('directional verification', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('passes the true Hessian operator and fails one that is 20% off', async () => {
    const c = loadGoldenCase('mlp_tanh_cce_fused');
    const plan = prepareRequest({ ...c.request, method: { name: 'hessian' } });
    const objective = buildObjective(plan.model, c.request.inputs, c.request.targets, plan.loss, plan.layout);
    try {
      const exact = hessianOperator(objective);
      const good = await directionalCheck(objective, 'hessian', exact, createRng(1));
      assert.ok(good.passed && good.relativeError < 1e-3, JSON.stringify(good));
      const skewed = {
        size: exact.size,
        matvec: async (v: Float64Array) => (await exact.matvec(v)).map((x) => 1.2 * x),
      };
      const bad = await directionalCheck(objective, 'hessian', skewed, createRng(1));
      assert.equal(bad.passed, false);
      // |1.2 − 1| / 1.2 ≈ 0.167 relative distance.
      assert.ok(Math.abs(bad.relativeError - 0.2 / 1.2) < 0.01, JSON.stringify(bad));
    } finally {
      objective.dispose();
    }
  });
});
