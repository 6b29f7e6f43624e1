/**
 * Remembers identifiers that may be used once (a DPoP proof's `jti`, RFC 9449 §11.1; an
 * assertion's `jti`, RFC 7523 §3 item 7) until they would be refused anyway for their age.
 * The memory implementation serves one process; a deployment with several instances plugs in
 * one backed by the shared store.
 */
export interface ReplayCache {
  /**
   * Records `key` until `untilMs` (ms since the epoch). True when this call recorded it first;
   * false when it was already there (a replay). Rejects when the cache cannot decide (full, or
   * its store unreachable): callers refuse the request then, never let it through.
   */
  remember(key: string, untilMs: number, nowMs: number): Promise<boolean>;
}

export const DEFAULT_REPLAY_CACHE_ENTRIES = 100_000;
const SWEEP_INTERVAL_MS = 1000;

/** Thrown when a memory cache is full of live entries. */
export class ReplayCacheFullError extends Error {
  override readonly name = 'ReplayCacheFullError';
}

/**
 * An in-process replay cache. Entries leave once past their deadline; when the cache is full of
 * live entries it refuses new ones (fail closed) instead of forgetting one, which would let
 * that one be replayed.
 */
export function createMemoryReplayCache(
  maxEntries: number = DEFAULT_REPLAY_CACHE_ENTRIES,
): ReplayCache & { readonly size: number } {
  const entries = new Map<string, number>();
  let lastSweep = Number.NEGATIVE_INFINITY;

  // A full pass at most once a second (or when full): amortized O(1) per call.
  function sweep(nowMs: number): void {
    lastSweep = nowMs;
    for (const [key, until] of entries) if (until <= nowMs) entries.delete(key);
  }

  return {
    get size() {
      return entries.size;
    },
    async remember(key, untilMs, nowMs) {
      const existing = entries.get(key);
      if (existing !== undefined && existing > nowMs) return false;
      if (entries.size >= maxEntries || nowMs - lastSweep >= SWEEP_INTERVAL_MS) sweep(nowMs);
      if (entries.size >= maxEntries) {
        throw new ReplayCacheFullError('the replay cache is full of live entries');
      }
      entries.set(key, untilMs);
      return true;
    },
  };
}
