/**
 * A submission that fails half-way never poisons its Idempotency-Key: the key is kept only once BullMQ holds the
 * job, and a record left without a queued job (a crash between the two writes) is queued by the retry. Faults are
 * real: Redis itself refuses the scripts BullMQ adds jobs with (an ACL on a private redis-server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServerHandle } from '../../src/runtime/redis-server.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

describe('an interrupted submission', () => {
  let redisServer: RedisServerHandle;
  let admin: Redis;
  let stack: Stack;
  let client: Client;
  let job: Record<string, unknown>;

  before(async () => {
    redisServer = await startRedisServer();
    admin = new Redis(redisServer.url);
    stack = await startStack({ workers: 0, env: { REDIS_URL: redisServer.url } });
    client = new Client(stack.url);
    const ids = await uploadGolden(client, 'mlp_tanh_mse');
    job = { modelId: ids.modelId, datasetId: ids.datasetId, loss: ids.loss, method: { name: 'trace' } };
  });
  after(async () => {
    await stack?.close();
    admin?.disconnect();
    await redisServer?.stop();
  });

  const jobKeys = async () => ({
    records: await admin.keys(`${stack.config.queuePrefix}:svc:jobs:*`),
    idempotency: await admin.keys(`${stack.config.queuePrefix}:svc:idem:*`),
    waiting: await admin.llen(`${stack.config.queuePrefix}:hessian-jobs:wait`),
  });

  it('fails without keeping the key or the record, and the retry with the same key queues the job', async () => {
    await admin.call('ACL', 'SETUSER', 'default', '-eval', '-evalsha');
    let failed;
    try {
      failed = await client.post('/v1/jobs', job, { 'idempotency-key': 'step-1' });
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', '+@all');
    }
    assert.ok(failed.status >= 500, `the add failed: ${failed.status} ${JSON.stringify(failed.body)}`);
    assert.equal(failed.body.status, failed.status);
    const left = await jobKeys();
    assert.deepEqual(left.idempotency, [], 'the key is not kept for a job that is not queued');
    assert.deepEqual(left.records, [], 'nor the record');

    const retried = await client.post('/v1/jobs', job, { 'idempotency-key': 'step-1' });
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    assert.equal(retried.headers.get('idempotent-replayed'), null, 'a new job, not a replay of a ghost');
    assert.equal(retried.body.status, 'queued');
    assert.equal((await jobKeys()).waiting, 1, 'BullMQ holds it');
    const again = await client.post('/v1/jobs', job, { 'idempotency-key': 'step-1' });
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, retried.body.id);
  });

  it('queues a record that a crash left without its BullMQ job when the same key comes back', async () => {
    const first = await client.post('/v1/jobs', job, { 'idempotency-key': 'step-2' });
    assert.equal(first.status, 202);
    const id = first.body.id as string;
    // What a crash between the record write and the add leaves: the record without `queuedAt`, no BullMQ job.
    const recordKey = `${stack.config.queuePrefix}:svc:jobs:${id}`;
    const record = JSON.parse((await admin.get(recordKey))!);
    delete record.queuedAt;
    await admin.set(recordKey, JSON.stringify(record));
    const waitKey = `${stack.config.queuePrefix}:hessian-jobs:wait`;
    await admin.lrem(waitKey, 0, id);
    await admin.del(`${stack.config.queuePrefix}:hessian-jobs:${id}`);

    const replay = await client.post('/v1/jobs', job, { 'idempotency-key': 'step-2' });
    assert.equal(replay.status, 202);
    assert.equal(replay.body.id, id);
    assert.equal(replay.body.status, 'queued');
    assert.ok((await admin.lrange(waitKey, 0, -1)).includes(id), 'the job is in the queue again');
    assert.ok(JSON.parse((await admin.get(recordKey))!).queuedAt, 'and marked queued');
  });

  it('answers a concurrent submission under the same key with one job', async () => {
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => client.post('/v1/jobs', job, { 'idempotency-key': 'step-3' })),
    );
    const ids = new Set(replies.filter((r) => r.status === 202).map((r) => r.body.id));
    assert.equal(ids.size, 1, JSON.stringify(replies.map((r) => [r.status, r.body.code ?? r.body.id])));
    for (const r of replies) assert.ok(r.status === 202 || r.status === 409, `${r.status}`);
  });
});
