/**
 * What `hessian compute` prints while it works and when it is done (src/cli/progress.ts), with a fake clock and a
 * fake stderr: a bar redrawn in place on a terminal, plain lines at most every 5 s otherwise, nothing when quiet, and
 * a one-paragraph summary. Exact strings: no tolerance involved.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressReporter, summarize } from '../../../src/cli/progress.js';
import type { ComputeResult } from '../../../src/contract/types.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, isTTY, columns: 100, write: (t: string) => writes.push(t) };
}

describe('progress on stderr', () => {
  it('without a terminal: a line at most every 5 s, then the last state', () => {
    let t = 0;
    const s = sink(false);
    const p = progressReporter(s, { now: () => t });
    p.onProgress(0, 100); // planned: nothing done yet, nothing shown
    t = 1000;
    p.onProgress(10, 100);
    assert.deepEqual(s.writes, ['hessian: 10/100 units (10%), 10/s, ETA 9.0s\n']);
    t = 3000;
    p.onProgress(30, 100); // within 5 s of the last line
    assert.equal(s.writes.length, 1);
    t = 6000;
    p.onProgress(60, 100);
    assert.equal(s.writes[1], 'hessian: 60/100 units (60%), 10/s, ETA 4.0s\n');
    t = 7000;
    p.onProgress(100, 100);
    p.end();
    assert.equal(s.writes[2], 'hessian: 100/100 units (100%), 14/s, ETA 0.0s\n');
    assert.equal(s.writes.length, 3);
  });

  it('on a terminal: a bar redrawn in place, and a newline at the end', () => {
    let t = 0;
    const s = sink(true);
    const p = progressReporter(s, { now: () => t });
    p.onProgress(0, 40);
    t = 2000;
    p.onProgress(20, 40);
    t = 2050; // within 100 ms: not redrawn
    p.onProgress(21, 40);
    assert.equal(s.writes.length, 1);
    assert.match(s.writes[0], /^\r\x1b\[2Khessian \[#+\.+\] 20\/40 units \(50%\), 10\/s, ETA 2\.0s$/);
    p.end();
    assert.match(s.writes[1], /21\/40 units/);
    assert.equal(s.writes[2], '\n');
  });

  it('says nothing when quiet; otherwise the first unit done is shown at once', () => {
    const quiet = sink(true);
    const p = progressReporter(quiet, { quiet: true, now: () => 0 });
    p.onProgress(5, 10);
    p.end();
    assert.deepEqual(quiet.writes, []);
    let t = 0;
    const short = sink(false);
    const q = progressReporter(short, { now: () => t });
    q.onProgress(0, 10);
    t = 50;
    q.onProgress(10, 10); // the first report after the plan: shown, and nothing is left for the end
    q.end();
    assert.deepEqual(short.writes, ['hessian: 10/10 units (100%), 200/s, ETA 0.0s\n']);
  });

  it('summarizes a result in one paragraph', () => {
    const result = {
      method: 'eigen',
      numParams: 51,
      backend: 'wasm',
      summary: { eigenvalues: [3.25, 1.5], converged: true, numExamples: 6, seed: 0, loss: {} },
      verification: {
        passed: true,
        checks: [
          { name: 'directional_fd', passed: true },
          { name: 'eigen_residuals', passed: true },
        ],
        warnings: [],
      },
      timings: { totalSeconds: 1.234 },
    } as unknown as ComputeResult;
    assert.equal(
      summarize(result, 'out', ['eigenvalues.npy', 'eigenvectors.npy']),
      'hessian: eigen of P = 51 parameters over 6 examples on wasm in 1.2s: eigenvalues [3.25, 1.5], converged ' +
        'true. Wrote out/result.json and eigenvalues.npy, eigenvectors.npy; verification passed (directional_fd, ' +
        'eigen_residuals).\n',
    );
    const failed = { ...result, verification: { ...result.verification, passed: false } } as ComputeResult;
    (failed.verification.checks as any[])[1] = { name: 'eigen_residuals', passed: false };
    assert.match(summarize(failed, 'out', []), /VERIFICATION FAILED \(eigen_residuals; see the warnings\)/);
  });
});
