/**
 * Block products (k directions through one pass with the copy axis) against k single products, on every golden
 * case whose model takes copies, for the Hessian and the GGN, on cpu and wasm; and the float64 Hessian/GGN times
 * the same directions. Tolerances: block vs single 1e-5 relative (same float32 arithmetic, different
 * summation order); against float64 1e-4 relative (the golden suite's bound for products).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/engine/backend.js';
import { buildObjective } from '../../../src/engine/objective.js';
import { hessianOperator } from '../../../src/engine/operators/hessian-operator.js';
import { ggnOperator } from '../../../src/engine/operators/ggn-operator.js';
import { applyBlock } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { prepareRequest } from '../../../src/contract/request.js';
import { goldenCaseNames, loadGoldenCase, matvec, relativeError } from '../../helpers/golden.js';

const BLOCK_VS_SINGLE = 1e-5;
const AGAINST_FLOAT64 = 1e-4;

const flat = (rows: Float64Array[]) => Float64Array.from(rows.flatMap((r) => [...r]));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`block products on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });
    const withCopies: string[] = [];
    const without: string[] = [];
    for (const name of goldenCaseNames()) {
      it(`${name}: [A v1, A v2, A v3] in one pass equals three products and float64`, async () => {
        const c = loadGoldenCase(name);
        const prepared = prepareRequest({ ...c.request, method: { name: 'diagonal' } });
        const baseline = tf.memory().numTensors;
        const objective = buildObjective(
          prepared.model,
          c.request.inputs,
          c.request.targets,
          prepared.loss,
          prepared.layout,
        );
        try {
          if (!objective.block) {
            without.push(name);
            return;
          }
          withCopies.push(name);
          const rng = createRng(7);
          const vs = [0, 1, 2].map(() => rng.gaussianVector(c.numParams));
          for (const [kind, op, reference] of [
            ['hessian', hessianOperator(objective), c.hessian],
            ['ggn', ggnOperator(objective), c.ggn],
          ] as const) {
            assert.ok(op.matmat, `${kind} operator has matmat`);
            const block = await op.matmat(vs);
            const single = [];
            for (const v of vs) single.push(await op.matvec(v));
            const err = relativeError(flat(block), flat(single));
            assert.ok(err <= BLOCK_VS_SINGLE, `${kind}: block vs single ${err.toExponential(2)}`);
            const exact = flat(vs.map((v) => matvec(reference, v)));
            const errExact = relativeError(flat(block), exact);
            assert.ok(errExact <= AGAINST_FLOAT64, `${kind}: block vs float64 ${errExact.toExponential(2)}`);
            // applyBlock splits into chunks of the operator's block size and keeps the order.
            const viaApply = await applyBlock({ ...op, blockSize: 2 }, vs);
            assert.ok(relativeError(flat(viaApply), flat(block)) <= BLOCK_VS_SINGLE);
            (op as { dispose?: () => void }).dispose?.();
          }
        } finally {
          objective.dispose();
        }
        assert.equal(tf.memory().numTensors, baseline, 'no tensors leaked by block products');
      });
    }
    for (const include of [['cls'], ['dense_b'], ['dense_a/kernel', 'reg/bias']]) {
      it(`multi_io_two_outputs with only ${include.join(', ')} selected: copies meet shared tensors`, async () => {
        // An output no selected weight reaches stays shared and is tiled at the end; Concatenate mixes a shared
        // and a copied input. Checked against the float64 Hessian's rows and columns of the selected weights.
        const c = loadGoldenCase('multi_io_two_outputs');
        const full = prepareRequest({ ...c.request, method: { name: 'diagonal' } });
        const prepared = prepareRequest({
          ...c.request,
          parameters: { include },
          method: { name: 'diagonal' },
        });
        const index: number[] = [];
        for (const w of prepared.layout) {
          const at = full.layout.find((f) => f.name === w.name)!;
          for (let j = 0; j < w.size; j++) index.push(at.offset + j);
        }
        const p = index.length;
        const sub = new Float64Array(p * p);
        for (let i = 0; i < p; i++) {
          for (let j = 0; j < p; j++) sub[i * p + j] = c.hessian[index[i] * c.numParams + index[j]];
        }
        const objective = buildObjective(
          prepared.model,
          c.request.inputs,
          c.request.targets,
          prepared.loss,
          prepared.layout,
        );
        try {
          const op = hessianOperator(objective);
          const rng = createRng(3);
          const vs = [0, 1, 2].map(() => rng.gaussianVector(p));
          const block = await op.matmat!(vs);
          const single = [];
          for (const v of vs) single.push(await op.matvec(v));
          assert.ok(relativeError(flat(block), flat(single)) <= BLOCK_VS_SINGLE);
          const err = relativeError(flat(block), flat(vs.map((v) => matvec(sub, v))));
          assert.ok(err <= AGAINST_FLOAT64, `block vs float64 ${err.toExponential(2)}`);
        } finally {
          objective.dispose();
        }
      });
    }

    it('takes copies for every feed-forward golden model and none of the recurrent ones', () => {
      for (const name of [
        'mlp_tanh_cce_fused',
        'cnn_two_conv_maxpool',
        'functional_add_concat',
        'mlp_layernorm',
      ]) {
        assert.ok(withCopies.includes(name), `${name} should take copies`);
      }
      assert.ok(without.some((n) => n.includes('lstm') || n.includes('gru') || n.includes('rnn')));
    });
  });
}
