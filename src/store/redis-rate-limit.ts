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

type RateLimitCall = (key: string, windowMs: number) => Promise<[number, number]>;

/**
 * Fixed-window request limits shared by every replica on one Redis: each check is one script
 * (INCR and its window's expiry in one step), so N replicas together admit at most the limit
 * per window, not N times it. It satisfies the gateway's RateLimiter interface structurally.
 * While Redis cannot answer, `consume` throws StoreUnavailableError: the request is refused
 * with 503, never let through unlimited.
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
    const [count, leftMs] = await this.#store.run(async (client) => {
      const call = (client as unknown as Record<string, RateLimitCall>).rateLimit;
      if (call === undefined) throw new Error('rate-limit script is not defined');
      return call.call(client, this.#store.keys.rateLimit(key), this.#windowMs);
    });
    return {
      allowed: count <= this.#max,
      remaining: Math.max(0, this.#max - count),
      retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)),
    };
  }

  /** The connection belongs to the store; closing the limiter leaves it open. */
  async close(): Promise<void> {}
}
