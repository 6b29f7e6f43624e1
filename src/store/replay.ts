import { hash } from 'node:crypto';
import type { Store } from './types.ts';

/**
 * A replay cache on the store's fixed-window counters, so that every instance sharing the store
 * (Redis) sees the same used identifiers. An identifier used at `now` is counted in the window
 * holding `now` and in the next one; a later use falls in one of those two windows until at
 * least `now + windowMs`, so it is seen as a replay for as long as the caller asked, provided
 * that is no longer than `windowMs` (longer is refused: callers must never be told "first use"
 * for an identifier that could come back unseen). Keys are hashed: no identifier is stored as
 * sent. A store with an atomic set-if-absent (`rememberOnce`, Redis) keeps one entry per
 * identifier instead.
 */
export interface StoreReplayCache {
  remember(key: string, untilMs: number, nowMs: number): Promise<boolean>;
}

export function createStoreReplayCache(
  store: Store,
  options: { readonly namespace: string; readonly windowMs: number },
): StoreReplayCache {
  const { namespace, windowMs } = options;
  if (!Number.isSafeInteger(windowMs) || windowMs < 1000) {
    throw new TypeError('windowMs must be an integer of at least 1000');
  }
  return {
    async remember(key, untilMs, nowMs) {
      if (untilMs - nowMs > windowMs) {
        throw new RangeError('the identifier must be remembered longer than the replay window');
      }
      const id = `replay:${namespace}:${hash('sha256', key, 'base64url')}`;
      // A shared store's set-if-absent: one atomic step, kept exactly as long as asked.
      if (store.rememberOnce !== undefined) return store.rememberOnce(id, untilMs, nowMs);
      const window = Math.floor(nowMs / windowMs);
      // The current window decides; the next one only carries the memory forward.
      const seen = await store.incrementCounter(`${id}:${window}`, windowMs, nowMs);
      await store.incrementCounter(`${id}:${window + 1}`, windowMs, nowMs + windowMs);
      return seen === 1;
    },
  };
}
