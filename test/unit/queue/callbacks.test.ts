/** The callback allow-list, the signature, and the open-watch limiter (no network). */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { callbackRefusal, retryable, signBody } from '../../../src/queue/callbacks.js';
import { WatchLimiter } from '../../../src/api/job-watch.js';

describe('callback allow-list', () => {
  const allowed = ['hooks.example.com', '*.internal.example', '127.0.0.1:8080', '[::1]:9000'];
  const cases: Array<[string, boolean]> = [
    ['https://hooks.example.com/x', true],
    ['http://hooks.example.com/x', true],
    ['https://HOOKS.example.com/x', true],
    ['https://hooks.example.com:8443/x', false], // no port in the entry: only the default one
    ['https://evil-hooks.example.com/x', false],
    ['https://hooks.example.com.evil.net/x', false],
    ['https://a.internal.example/x', true],
    ['https://a.b.internal.example/x', true],
    ['https://internal.example/x', false], // *.domain is its subdomains, not the domain
    ['https://xinternal.example/x', false],
    ['http://127.0.0.1:8080/x', true],
    ['http://127.0.0.1/x', false],
    ['http://127.0.0.1:8081/x', false],
    ['http://[::1]:9000/x', true],
    ['http://[::1]/x', false],
    ['http://localhost:8080/x', false],
  ];
  for (const [url, ok] of cases) {
    it(`${ok ? 'allows' : 'refuses'} ${url}`, () => {
      assert.equal(callbackRefusal(url, allowed) === null, ok, String(callbackRefusal(url, allowed)));
    });
  }

  it('refuses everything with an empty list, other schemes, credentials and non-URLs', () => {
    assert.match(callbackRefusal('https://hooks.example.com/x', [])!, /CALLBACK_ALLOWED_HOSTS/);
    assert.match(callbackRefusal('ftp://hooks.example.com/x', allowed)!, /http or https/);
    assert.match(callbackRefusal('https://u:p@hooks.example.com/x', allowed)!, /credentials/);
    assert.match(callbackRefusal('/relative', allowed)!, /absolute URL/);
  });
});

describe('callback signature', () => {
  it('is sha256=<hex HMAC-SHA256 of the body>', () => {
    const body = '{"id":"j","status":"succeeded"}';
    const expected = createHmac('sha256', 'secret-of-sixteen+').update(body).digest('hex');
    assert.equal(signBody('secret-of-sixteen+', body), `sha256=${expected}`);
    // A known vector (RFC 4231 test case 2): key "Jefe", data "what do ya want for nothing?".
    assert.equal(
      signBody('Jefe', 'what do ya want for nothing?'),
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('retries 5xx, 408 and 429 only', () => {
    assert.deepEqual([200, 301, 400, 401, 404, 408, 410, 429, 500, 503].map(retryable), [
      false,
      false,
      false,
      false,
      false,
      true,
      false,
      true,
      true,
      true,
    ]);
  });
});

describe('open-watch limiter', () => {
  it('bounds watches per owner and in all, and releases each slot once', () => {
    const limiter = new WatchLimiter(3, 2);
    const a1 = limiter.acquire('a');
    const a2 = limiter.acquire('a');
    assert.ok(a1 && a2);
    assert.equal(limiter.acquire('a'), null, 'per owner');
    const b1 = limiter.acquire('b');
    assert.ok(b1);
    assert.equal(limiter.acquire('c'), null, 'in all');
    a1!();
    a1!(); // a second release does nothing
    assert.equal(limiter.open, 2);
    assert.ok(limiter.acquire('c'));
    assert.equal(limiter.acquire('d'), null);
  });
});
