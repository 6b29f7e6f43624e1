import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LruCache } from '../../src/resource-server/lru-cache.ts';

describe('verified-token cache (second-chance LRU)', () => {
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
  test('an entry that was hit survives an eviction that takes one that was not', () => {
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
