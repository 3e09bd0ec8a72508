import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '../../../src/engine/estimators/rng.js';

describe('createRng', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return [
        rng.uint32(),
        rng.uniform(),
        rng.normal(),
        ...rng.rademacherVector(40),
        ...rng.gaussianVector(3),
      ];
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    // Seeds are taken modulo 2³².
    assert.deepEqual(draw(-1), draw(2 ** 32 - 1));
  });

  it('produces uniforms in [0, 1) with mean ½ and variance 1/12', () => {
    const rng = createRng(1);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      assert.ok(u >= 0 && u < 1);
      sum += u;
      sumSq += u * u;
    }
    const mean = sum / n;
    // Standard error of the mean is √(1/12/n) ≈ 9e-4; 5e-3 is more than 5 standard errors.
    assert.ok(Math.abs(mean - 0.5) < 5e-3, `mean ${mean}`);
    assert.ok(Math.abs(sumSq / n - mean * mean - 1 / 12) < 5e-3);
  });

  it('produces standard normals with mean 0, variance 1 and the right tail mass', () => {
    const rng = createRng(2);
    const x = rng.gaussianVector(100_000);
    let sum = 0;
    let sumSq = 0;
    let beyond2 = 0;
    for (const v of x) {
      sum += v;
      sumSq += v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    // Standard errors: mean 3e-3, variance 4.5e-3, tail fraction 7e-4; tolerances are ≥ 4 of them.
    assert.ok(Math.abs(sum / x.length) < 0.015);
    assert.ok(Math.abs(sumSq / x.length - 1) < 0.02);
    assert.ok(Math.abs(beyond2 / x.length - 0.0455) < 0.003);
  });

  it('produces balanced ±1 Rademacher vectors', () => {
    const v = createRng(3).rademacherVector(10_001);
    assert.ok(v.every((x) => x === 1 || x === -1));
    const sum = v.reduce((s, x) => s + x, 0);
    // Sum of n signs has standard deviation √n ≈ 100.
    assert.ok(Math.abs(sum) < 500, `sum ${sum}`);
  });

  it('rejects a non-integer seed', () => {
    assert.throws(() => createRng(1.5), RangeError);
  });
});
