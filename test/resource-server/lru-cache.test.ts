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
  set(key: string, value: number, until: number): void {
    this.delete(key);
    this.#entries.push({ key, value, until });
    if (this.#entries.length > this.#max) this.#entries.shift();
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
