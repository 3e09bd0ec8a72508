import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MetadataStore } from '../../../src/storage/metadata-store.js';
import { deleteKeys } from '../../integration/helpers/stack.js';

describe('MetadataStore (Redis)', () => {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `unit-meta-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(url);
  const meta = new MetadataStore(redis, prefix);
  after(async () => {
    await deleteKeys(url, prefix);
    redis.disconnect();
  });

  const rec = (i: number) => ({
    id: `r${i}`,
    createdAt: new Date(1_700_000_000_000 + (i % 3) * 1000).toISOString(),
    i,
  });

  it('pages newest first with a cursor that never skips or repeats, even with equal timestamps', async () => {
    for (let i = 0; i < 7; i++) await meta.put('models', rec(i), 0);
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await meta.list<ReturnType<typeof rec>>('models', { cursor, limit: 3 });
      seen.push(...page.items.map((r) => r.i));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
    const times = seen.map((i) => Date.parse(rec(i).createdAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
      'newest first',
    );
  });

  it('drops expired records from listings and filters without breaking pagination', async () => {
    await meta.delete('models', rec(0));
    await redis.del(meta.key('models', 'r1')); // as if its TTL had run out
    const all = await meta.list<ReturnType<typeof rec>>('models', { limit: 50 });
    assert.deepEqual(all.items.map((r) => r.i).sort(), [2, 3, 4, 5, 6]);
    const even = await meta.list<ReturnType<typeof rec>>('models', {
      limit: 2,
      accept: (r) => r.i % 2 === 0,
    });
    assert.equal(even.items.length, 2);
    const rest = await meta.list<ReturnType<typeof rec>>('models', {
      limit: 2,
      cursor: even.nextCursor!,
      accept: (r) => r.i % 2 === 0,
    });
    assert.deepEqual([...even.items, ...rest.items].map((r) => r.i).sort(), [2, 4, 6]);
  });
});
