/**
 * The Python client (clients/python, `hessian_client`) against a real stack: the API over HTTP, a real worker
 * process and Redis. Runs its pytest suite (clients/python/tests) with HESSIAN_URL pointing at the stack, so the
 * client's uploads, idempotent submissions, long polling and fallback, progress, cancellation, errors and results
 * (checked against the float64 goldens) are part of `npm test`. Needs python3 with pytest, requests and numpy
 * (Debian's python3-pytest, python3-requests, python3-numpy); skipped without them.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, startStack } from './helpers/stack.js';

const PYTHON = 'python3';
const PACKAGE_DIR = join(REPO_ROOT, 'clients', 'python');
/** The suite takes about 10-20 s; this bounds a hung run. */
const PYTEST_TIMEOUT_MS = 150_000;

/** Why the suite cannot run here, or undefined when python3 has what it needs. */
function pythonMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import pytest, requests, numpy'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? 'failed');
  return `python3 cannot import pytest, requests and numpy (${why}); .ci/run installs python3-pytest python3-requests python3-numpy`;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs pytest as a child process without blocking the event loop (the stack's API server runs in this process and
 * must keep answering), collecting stdout and stderr; kills it after PYTEST_TIMEOUT_MS.
 */
function runPytest(url: string): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HESSIAN_URL: url,
    PYTHONPATH: [PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
    // No __pycache__ (nor .pytest_cache, below) written into the repository.
    PYTHONDONTWRITEBYTECODE: '1',
  };
  delete env.HESSIAN_API_KEY; // the stack has no API keys
  const args = ['-m', 'pytest', '-q', '-rs', '-p', 'no:cacheprovider', 'clients/python/tests'];
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\n[killed after ${PYTEST_TIMEOUT_MS} ms]`;
      child.kill('SIGKILL');
    }, PYTEST_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('the Python client', () => {
  const missing = pythonMissing();

  it(
    'passes its pytest suite against a live stack',
    { skip: missing ?? false, timeout: PYTEST_TIMEOUT_MS + 60_000 },
    async () => {
      const stack = await startStack({ workers: 1 });
      try {
        const started = Date.now();
        const { code, signal, output } = await runPytest(stack.url);
        assert.equal(
          code,
          0,
          `pytest exited with ${code ?? signal} after ${Date.now() - started} ms:\n${output}`,
        );
        assert.match(output, / passed/, output);
        assert.doesNotMatch(output, /HESSIAN_URL is not set/, output);
      } finally {
        await stack.close();
      }
    },
  );
});
