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
  /**
   * Present on a limiter whose counters live in a store shared by replicas: counts every key in
   * one atomic call (one round trip) and answers each, in order. The gateway then screens the
   * client's address with `screen` before any token work and counts the address in the shared
   * store together with the subject and the session once the token is known.
   */
  consumeAll?(keys: readonly string[]): Promise<readonly RateLimitDecision[]>;
  /** With consumeAll: counts `key` in this process only (no round trip). */
  screen?(key: string): RateLimitDecision;
  close(): Promise<void>;
}

/** Counters kept in a store shared by every replica (Redis): several keys in one atomic call. */
export interface SharedCounters {
  consumeAll(keys: readonly string[]): Promise<readonly RateLimitDecision[]>;
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
    return this.take(key);
  }

  /** consume without the promise: the counters are in this process. */
  take(key: string): RateLimitDecision {
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

/**
 * The limiter of replicas sharing a store (Redis), at one round trip per request at most (the
 * Redis counters send the requests of one event-loop turn in one call).
 *
 * The address limit exists to stop a flood of bad tokens before signature checks, so it must be
 * decided before the token is verified; the subject's limit can only be decided after. Asking the
 * shared store at both points would cost two round trips per request. Instead the address is
 * screened first by a counter in this process at the same limit (no round trip), and counted in
 * the shared store afterwards together with the subject and the session, in one atomic call
 * (`consumeAll`); a request refused by authentication counts its address there too, in one call.
 *
 * The trade-off: the screen sees only this replica's share of an address's requests, so behind a
 * load balancer spreading a flood over N replicas, up to N times the limit of bad tokens per
 * window reach signature checks before every replica's screen closes; the shared count still
 * admits at most the limit across all replicas, so no more than the limit reach an upstream.
 */
export class SharedRateLimiter implements RateLimiter {
  readonly #counters: SharedCounters;
  readonly #local: MemoryRateLimiter;

  constructor(counters: SharedCounters, options: RateLimitOptions) {
    this.#counters = counters;
    this.#local = new MemoryRateLimiter(options);
  }

  async consume(key: string): Promise<RateLimitDecision> {
    const [decision] = await this.#counters.consumeAll([key]);
    if (decision === undefined) throw new Error('the shared counters answered nothing');
    return decision;
  }

  consumeAll(keys: readonly string[]): Promise<readonly RateLimitDecision[]> {
    return this.#counters.consumeAll(keys);
  }

  screen(key: string): RateLimitDecision {
    return this.#local.take(key);
  }

  async close(): Promise<void> {
    await Promise.all([this.#local.close(), this.#counters.close()]);
  }
}
