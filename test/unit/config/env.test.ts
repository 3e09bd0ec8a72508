import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/env.js';

describe('loadConfig', () => {
  it('has working defaults for every variable', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(c.dataDir, './.data');
    assert.equal(c.backend, 'auto');
    assert.deepEqual(c.apiKeys, []);
    assert.ok(Object.isFrozen(c));
  });

  it('parses numbers, lists and enums, treating empty strings as unset', () => {
    const c = loadConfig({
      PORT: '8080',
      API_KEYS: ' a, b ,,',
      HESSIAN_BACKEND: 'wasm',
      WORKER_CONCURRENCY: '',
      LOG_LEVEL: 'debug',
    });
    assert.equal(c.port, 8080);
    assert.deepEqual(c.apiKeys, ['a', 'b']);
    assert.equal(c.backend, 'wasm');
    assert.equal(c.workerConcurrency, 1);
  });

  it('stops on a bad value with one readable line naming the variable and the value', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', HESSIAN_BACKEND: 'gpu' }),
      (e: Error) =>
        e instanceof ConfigError &&
        !e.message.includes('\n') &&
        /PORT must be a number \(got "eighty"\)/.test(e.message) &&
        /HESSIAN_BACKEND .*"gpu"/.test(e.message),
    );
    assert.throws(() => loadConfig({ REDIS_URL: 'localhost:6379' }), /REDIS_URL must be a redis:\/\//);
    assert.throws(() => loadConfig({ QUEUE_PREFIX: 'a b' }), /QUEUE_PREFIX/);
  });

  it('never echoes API keys in its error', () => {
    assert.throws(
      () => loadConfig({ API_KEYS: 'secret', PORT: '-1' }),
      (e: Error) => !e.message.includes('secret'),
    );
  });
});
