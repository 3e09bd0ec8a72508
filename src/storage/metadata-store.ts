/**
 * Metadata records (models, datasets, arrays, jobs) as JSON strings in Redis, each with a TTL, plus one index per
 * kind and owner (the API key that created the record) for newest-first cursor pagination. The index is a sorted set ordered lexicographically by
 * `<createdAt padded>|<id>`, so a cursor is simply the last member seen and pages never skip or repeat.
 */
import type { Redis } from 'ioredis';

export type RecordKind = 'models' | 'datasets' | 'arrays' | 'jobs';

interface Timestamped {
  id: string;
  createdAt: string;
  /** The principal that created the record; lists are per owner. */
  owner?: string;
}

const DEFAULT_OWNER = 'anonymous';
const ownerOf = (rec: Timestamped): string => rec.owner ?? DEFAULT_OWNER;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

function indexMember(rec: Timestamped): string {
  return `${String(Date.parse(rec.createdAt)).padStart(15, '0')}|${rec.id}`;
}

export class MetadataStore {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {}

  key(kind: RecordKind, id: string): string {
    return `${this.prefix}:svc:${kind}:${id}`;
  }

  private indexKey(kind: RecordKind, owner: string): string {
    return `${this.prefix}:svc:${kind}-index:${owner}`;
  }

  /** Stores a record and indexes it under its owner; `ttlSeconds` of 0 keeps it until deleted. */
  async put<T extends Timestamped>(kind: RecordKind, rec: T, ttlSeconds: number): Promise<void> {
    const multi = this.redis.multi();
    if (ttlSeconds > 0) multi.set(this.key(kind, rec.id), JSON.stringify(rec), 'EX', ttlSeconds);
    else multi.set(this.key(kind, rec.id), JSON.stringify(rec));
    multi.zadd(this.indexKey(kind, ownerOf(rec)), 0, indexMember(rec));
    await multi.exec();
  }

  /** Replaces a record's fields, keeping its TTL. */
  async update<T extends Timestamped>(kind: RecordKind, rec: T): Promise<void> {
    await this.redis.set(this.key(kind, rec.id), JSON.stringify(rec), 'KEEPTTL');
  }

  async get<T>(kind: RecordKind, id: string): Promise<T | null> {
    const raw = await this.redis.get(this.key(kind, id));
    return raw === null ? null : (JSON.parse(raw) as T);
  }

  /** Extends a record's life (a model used by a new job should not expire under it). */
  async touch(kind: RecordKind, id: string, ttlSeconds: number): Promise<void> {
    await this.redis.expire(this.key(kind, id), ttlSeconds);
  }

  async expire(kind: RecordKind, id: string, ttlSeconds: number): Promise<void> {
    await this.redis.expire(this.key(kind, id), ttlSeconds);
  }

  async exists(kind: RecordKind, id: string): Promise<boolean> {
    return (await this.redis.exists(this.key(kind, id))) === 1;
  }

  async delete(kind: RecordKind, rec: Timestamped): Promise<void> {
    await this.redis
      .multi()
      .del(this.key(kind, rec.id))
      .zrem(this.indexKey(kind, ownerOf(rec)), indexMember(rec))
      .exec();
  }

  /**
   * One page, newest first. Records that expired since being indexed are dropped from the index on the way;
   * `accept` filters (e.g. by job status) without breaking the cursor.
   */
  async list<T extends Timestamped>(
    kind: RecordKind,
    opts: {
      /** Whose records (default: the anonymous tenant's). */
      owner?: string;
      cursor?: string;
      limit: number;
      accept?: (rec: T) => boolean | Promise<boolean>;
    },
  ): Promise<Page<T>> {
    const index = this.indexKey(kind, opts.owner ?? DEFAULT_OWNER);
    const items: T[] = [];
    let from = opts.cursor ? `(${opts.cursor}` : '+';
    const batch = Math.max(opts.limit, 50);
    for (let scanned = 0; scanned < 20 * batch;) {
      const members = await this.redis.zrange(index, from, '-', 'BYLEX', 'REV', 'LIMIT', 0, batch);
      if (members.length === 0) return { items, nextCursor: null };
      const raws = await this.redis.mget(members.map((m) => this.key(kind, m.slice(m.indexOf('|') + 1))));
      const gone: string[] = [];
      for (let i = 0; i < members.length; i++) {
        const raw = raws[i];
        if (raw === null) {
          gone.push(members[i]);
          continue;
        }
        const rec = JSON.parse(raw) as T;
        if (opts.accept && !(await opts.accept(rec))) continue;
        items.push(rec);
        if (items.length === opts.limit) {
          if (gone.length) await this.redis.zrem(index, ...gone);
          const more = i < members.length - 1 || members.length === batch;
          return { items, nextCursor: more ? members[i] : null };
        }
      }
      if (gone.length) await this.redis.zrem(index, ...gone);
      scanned += members.length;
      if (members.length < batch) return { items, nextCursor: null };
      from = `(${members[members.length - 1]}`;
    }
    // A filter that matches almost nothing: return what we have and let the client continue from here.
    return { items, nextCursor: from.slice(1) };
  }

  /** Drops index entries whose record has expired (used by the storage sweep). */
  async pruneIndex(kind: RecordKind): Promise<void> {
    let cursor = '0';
    do {
      const [next, indexes] = await this.redis.scan(
        cursor,
        'MATCH',
        `${this.indexKey(kind, '*')}`,
        'COUNT',
        100,
      );
      cursor = next;
      for (const index of indexes) await this.pruneOne(kind, index);
    } while (cursor !== '0');
  }

  private async pruneOne(kind: RecordKind, index: string): Promise<void> {
    const members = await this.redis.zrange(index, '0', '-1');
    for (let i = 0; i < members.length; i += 500) {
      const chunk = members.slice(i, i + 500);
      const raws = await this.redis.mget(chunk.map((m) => this.key(kind, m.slice(m.indexOf('|') + 1))));
      const gone = chunk.filter((_, j) => raws[j] === null);
      if (gone.length) await this.redis.zrem(index, ...gone);
    }
  }
}
