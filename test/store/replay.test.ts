import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  createStoreReplayCache,
  MemoryStore,
  SqliteStore,
  type Store,
} from '../../src/store/index.ts';
import { tempDir } from '../helpers/cli.ts';

/* The replay cache on the store's counters: what every instance sharing a store sees. */

const backends: [string, () => Store][] = [
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(join(tempDir(), 'replay.db'))],
];

for (const [name, open] of backends) {
  describe(`store replay cache (${name})`, () => {
    test('first use, replay, memory across the window boundary, then forgotten', async () => {
      const store = open();
      try {
        const cache = createStoreReplayCache(store, { namespace: 't', windowMs: 10_000 });
        const t0 = 1_000_000_000_000 + 9_000; // late in a window
        assert.equal(await cache.remember('jti-1', t0 + 10_000, t0), true);
        assert.equal(await cache.remember('jti-1', t0 + 10_000, t0 + 500), false);
        // The next window still knows it (the identifier would still be accepted then).
        assert.equal(await cache.remember('jti-1', t0 + 10_000, t0 + 9_999), false);
        // Two windows on, it is gone: by then its owner refuses it for its age anyway.
        assert.equal(await cache.remember('jti-1', t0 + 30_000, t0 + 21_000), true);
        // Another identifier is independent (positive control).
        assert.equal(await cache.remember('jti-2', t0 + 10_000, t0), true);
      } finally {
        await store.close();
      }
    });

    test('an identifier to be kept longer than the window is refused, never accepted blindly', async () => {
      const store = open();
      try {
        const cache = createStoreReplayCache(store, { namespace: 't', windowMs: 10_000 });
        await assert.rejects(cache.remember('long', 30_000, 0), RangeError);
      } finally {
        await store.close();
      }
    });
  });
}
