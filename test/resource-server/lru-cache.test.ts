import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LruCache } from '../../src/resource-server/lru-cache.ts';

/** The obvious LRU: an array, oldest first. */
class ModelLru {
  #entries: { key: string; value: number; until: number }[] = [];
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get size(): number {
    return this.#entries.length;
  }
  set(key: string, value: number, until: number, now?: number): void {
    this.delete(key);
    this.#entries.push({ key, value, until });
    if (this.#entries.length > this.#max) this.#entries.shift();
    if (now === undefined) return;
    while (this.#entries[0] !== undefined && this.#entries[0].until <= now) this.#entries.shift();
  }
  delete(key: string): void {
    this.#entries = this.#entries.filter((entry) => entry.key !== key);
  }
  get(key: string, now: number): number | undefined {
    const found = this.#entries.find((entry) => entry.key === key);
    if (found === undefined) return undefined;
    this.delete(key);
    if (found.until <= now) return undefined;
    this.#entries.push(found);
    return found.value;
  }
}

describe('verified-token cache (LRU)', () => {
  test('never holds more than its bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 })), { maxLength: 300 }),
        (max, operations) => {
          const cache = new LruCache<number>(max);
          for (const [isSet, key] of operations) {
            if (isSet) cache.set(`k${key}`, key, Number.POSITIVE_INFINITY);
            else {
              const value = cache.get(`k${key}`, 0);
              if (value !== undefined) assert.equal(value, key);
            }
            assert.ok(cache.size <= max);
          }
        },
      ),
    );
  });
  test('behaves exactly like a reference LRU model', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.tuple(
            fc.constantFrom('get', 'set', 'delete'),
            fc.integer({ min: 0, max: 12 }),
            fc.integer({ min: 0, max: 100 }),
          ),
          { maxLength: 200 },
        ),
        (max, operations) => {
          const cache = new LruCache<number>(max);
          const model = new ModelLru(max);
          let now = 0;
          for (const [operation, number, time] of operations) {
            now += time % 3;
            const key = `k${number}`;
            if (operation === 'set') {
              model.set(key, number, now + time);
              cache.set(key, number, now + time);
            } else if (operation === 'delete') {
              model.delete(key);
              cache.delete(key);
            } else assert.equal(cache.get(key, now), model.get(key, now));
            assert.equal(cache.size, model.size);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
  test('given the time, a store drops expired entries from the cold end, like the model', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.tuple(
            fc.constantFrom('get', 'set', 'delete'),
            fc.integer({ min: 0, max: 12 }),
            fc.integer({ min: 0, max: 100 }),
          ),
          { maxLength: 200 },
        ),
        (max, operations) => {
          const cache = new LruCache<number>(max);
          const model = new ModelLru(max);
          let now = 0;
          for (const [operation, number, time] of operations) {
            now += time % 7;
            const key = `k${number}`;
            if (operation === 'set') {
              model.set(key, number, now + time, now);
              cache.set(key, number, now + time, now);
            } else if (operation === 'delete') {
              model.delete(key);
              cache.delete(key);
            } else assert.equal(cache.get(key, now), model.get(key, now));
            assert.equal(cache.size, model.size);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
  test('tokens seen once leave after their TTL: the cache holds the recent ones, not its bound', () => {
    // A gateway sees a stream of distinct tokens (each refresh mints one); with a 10 000-entry
    // bound and a 300 s TTL, only those of the last 300 s may stay.
    const ttl = 300_000;
    const pruned = new LruCache<number>(10_000);
    const unpruned = new LruCache<number>(10_000);
    for (let index = 0; index < 20_000; index++) {
      const now = index * 1000;
      pruned.set(`token ${index}`, index, now + ttl, now);
      unpruned.set(`token ${index}`, index, now + ttl);
      assert.ok(pruned.size <= ttl / 1000, `${pruned.size} entries at ${now} ms`);
    }
    assert.equal(pruned.size, ttl / 1000);
    assert.equal(pruned.get('token 19999', 19_999_000), 19_999);
    assert.equal(pruned.get('token 19700', 19_999_000), 19_700);
    assert.equal(pruned.get('token 19699', 19_999_000), undefined);
    // Positive control: without the time, dead entries stay until the bound pushes them out.
    assert.equal(unpruned.size, 10_000);
  });
  test('an entry still in use survives the pruning of expired ones behind it', () => {
    const cache = new LruCache<string>(100);
    cache.set('hot', 'H', 10_000, 0);
    cache.set('cold', 'C', 500, 0);
    for (let now = 100; now <= 2000; now += 100) {
      assert.equal(cache.get('hot', now), 'H');
      cache.set(`other ${now}`, 'O', now + 50, now);
    }
    assert.equal(cache.get('cold', 2000), undefined);
    assert.equal(cache.get('hot', 2000), 'H');
    assert.ok(cache.size <= 2, `${cache.size} entries`);
  });
  test('the least recently used entry is evicted first', () => {
    const cache = new LruCache<string>(3);
    cache.set('a', 'A', 100);
    cache.set('b', 'B', 100);
    cache.set('c', 'C', 100);
    assert.equal(cache.get('a', 0), 'A');
    cache.set('d', 'D', 100);
    assert.equal(cache.get('a', 0), 'A');
    assert.equal(cache.get('b', 0), undefined);
    assert.equal(cache.get('c', 0), 'C');
    assert.equal(cache.get('d', 0), 'D');
  });
  test('entries lapse at their deadline; size 0 stores nothing', () => {
    const cache = new LruCache<string>(2);
    cache.set('a', 'A', 1000);
    assert.equal(cache.get('a', 999), 'A');
    assert.equal(cache.get('a', 1000), undefined);
    assert.equal(cache.size, 0);
    const none = new LruCache<string>(0);
    none.set('a', 'A', 1000);
    assert.equal(none.get('a', 0), undefined);
  });
});
