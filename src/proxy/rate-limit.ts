/**
 * Request rate limits (per client address, per MCP session, per token subject; RFC
 * 6585 §4: 429 with Retry-After). The gateway talks to the RateLimiter interface only, so a
 * shared store (Redis) can replace the in-memory counters without touching the callers.
 */

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Requests left in the current window after this one. */
  readonly remaining: number;
  /** Whole seconds until the window resets (at least 1). */
  readonly retryAfterSeconds: number;
}

export interface RateLimiter {
  /** Counts one request against `key` and says whether it is within the limit. */
  consume(key: string): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

export interface RateLimitOptions {
  readonly maxRequests: number;
  readonly windowSeconds: number;
  /** Most keys kept in memory; the oldest window is dropped beyond it. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

interface Window {
  startedAt: number;
  count: number;
}

/** Fixed windows per key, kept in memory; one gateway process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(options: RateLimitOptions) {
    this.#max = options.maxRequests;
    this.#windowMs = options.windowSeconds * 1000;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  async consume(key: string): Promise<RateLimitDecision> {
    const now = this.#now();
    let window = this.#windows.get(key);
    if (window === undefined || now - window.startedAt >= this.#windowMs) {
      if (window !== undefined) this.#windows.delete(key);
      this.#makeRoom(now);
      window = { startedAt: now, count: 0 };
      // Re-inserted so the map stays ordered by window start, oldest first.
      this.#windows.set(key, window);
    }
    window.count += 1;
    const retryAfterSeconds = Math.max(
      1,
      Math.ceil((window.startedAt + this.#windowMs - now) / 1000),
    );
    return {
      allowed: window.count <= this.#max,
      remaining: Math.max(0, this.#max - window.count),
      retryAfterSeconds,
    };
  }

  async close(): Promise<void> {
    this.#windows.clear();
  }

  /** Drops expired windows from the front; if still full, the oldest one. */
  #makeRoom(now: number): void {
    if (this.#windows.size < this.#maxKeys) return;
    for (const [key, window] of this.#windows) {
      if (now - window.startedAt < this.#windowMs) break;
      this.#windows.delete(key);
    }
    if (this.#windows.size >= this.#maxKeys) {
      const oldest = this.#windows.keys().next();
      if (!oldest.done) this.#windows.delete(oldest.value);
    }
  }
}
