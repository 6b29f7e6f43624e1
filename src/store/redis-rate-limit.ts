import type { RedisStore } from './redis.ts';

/** The same shape as the gateway's RateLimitDecision (src/proxy/rate-limit.ts). */
export interface SharedRateLimitDecision {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly retryAfterSeconds: number;
}

export interface SharedRateLimitOptions {
  readonly maxRequests: number;
  readonly windowSeconds: number;
}

/** The rate-limit script as ioredis defines it (no fixed key count: the count goes first). */
type RateLimitCall = (
  numberOfKeys: number,
  ...args: (string | number)[]
) => Promise<readonly number[]>;

/**
 * Fixed-window request limits shared by every replica on one Redis: each call is one script
 * (INCR and its window's expiry for every key, in one step), so N replicas together admit at most
 * the limit per window, not N times it, and a request's address, subject and session are counted
 * in one round trip. It satisfies the gateway's SharedCounters interface structurally (and its
 * RateLimiter interface). While Redis cannot answer, calls throw StoreUnavailableError: the
 * request is refused with 503, never let through unlimited.
 */
export class RedisRateLimiter {
  readonly #store: RedisStore;
  readonly #max: number;
  readonly #windowMs: number;

  constructor(store: RedisStore, options: SharedRateLimitOptions) {
    this.#store = store;
    this.#max = options.maxRequests;
    this.#windowMs = options.windowSeconds * 1000;
  }

  async consume(key: string): Promise<SharedRateLimitDecision> {
    const [decision] = await this.consumeAll([key]);
    if (decision === undefined) throw new Error('the rate-limit script answered nothing');
    return decision;
  }

  /** Counts one request against every key, atomically, in one round trip. */
  async consumeAll(keys: readonly string[]): Promise<SharedRateLimitDecision[]> {
    if (keys.length === 0) return [];
    const flat = await this.#store.run(async (client) => {
      const call = (client as unknown as Record<string, RateLimitCall>).rateLimit;
      if (call === undefined) throw new Error('rate-limit script is not defined');
      const redisKeys = keys.map((key) => this.#store.keys.rateLimit(key));
      return call.call(client, redisKeys.length, ...redisKeys, this.#windowMs);
    });
    return keys.map((_, index) => {
      const count = Number(flat[2 * index]);
      const leftMs = Number(flat[2 * index + 1]);
      return {
        allowed: count <= this.#max,
        remaining: Math.max(0, this.#max - count),
        retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)),
      };
    });
  }

  /** The connection belongs to the store; closing the limiter leaves it open. */
  async close(): Promise<void> {}
}
