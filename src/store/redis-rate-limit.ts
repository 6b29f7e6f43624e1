import type { RedisStore } from './redis.ts';
import { RATE_LIMIT_COMMAND } from './redis-connection.ts';

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

/** One caller's keys, waiting for the next script call. */
interface Pending {
  readonly keys: readonly string[];
  readonly resolve: (decisions: SharedRateLimitDecision[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Most keys one script call counts. Redis runs a script to its end before any other command,
 * so a flood's batch is cut into calls of this size rather than one call blocking the server.
 */
const MAX_KEYS_PER_CALL = 512;

/**
 * Fixed-window request limits shared by every replica on one Redis: each call is one script
 * (INCR and its window's expiry for every key, in one step), so N replicas together admit at most
 * the limit per window, not N times it, and a request's address, subject and session are counted
 * in one round trip. It satisfies the gateway's SharedCounters interface structurally (and its
 * RateLimiter interface). While Redis cannot answer, calls throw StoreUnavailableError: the
 * request is refused with 503, never let through unlimited.
 *
 * The requests that ask within one turn of the event loop share one script call: their keys go
 * together, each request's in order and never split between calls, so each request's counters
 * are still counted in one atomic step (the whole batch is). A key named by two requests of a
 * batch is counted twice, once for each, and each gets its own count. Batching is what keeps the
 * client's per-command work (command objects, RESP encoding, reply parsing, its timeout timer)
 * from being paid again for every request.
 */
export class RedisRateLimiter {
  readonly #store: RedisStore;
  readonly #max: number;
  readonly #windowMs: string;
  /** Every window key begins with it: the store's prefix and the shared hash tag. */
  readonly #keyPrefix: string;
  #pending: Pending[] = [];
  #pendingKeys = 0;
  #scheduled = false;

  constructor(store: RedisStore, options: SharedRateLimitOptions) {
    this.#store = store;
    this.#max = options.maxRequests;
    this.#windowMs = String(options.windowSeconds * 1000);
    this.#keyPrefix = store.keys.rateLimit('');
  }

  async consume(key: string): Promise<SharedRateLimitDecision> {
    const [decision] = await this.consumeAll([key]);
    if (decision === undefined) throw new Error('the rate-limit script answered nothing');
    return decision;
  }

  /** Counts one request against every key, atomically, in one round trip. */
  consumeAll(keys: readonly string[]): Promise<SharedRateLimitDecision[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      // A batch already at the size of one call goes now; this request starts the next one.
      if (this.#pendingKeys + keys.length > MAX_KEYS_PER_CALL) this.#flush();
      this.#pending.push({ keys, resolve, reject });
      this.#pendingKeys += keys.length;
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the I/O callbacks of this turn: every request read in it joins the batch.
        setImmediate(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  /** Sends the waiting requests' keys in one script call and answers each request its share. */
  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    this.#pendingKeys = 0;
    const args: string[] = [];
    for (const request of batch) {
      for (const key of request.keys) args.push(this.#keyPrefix + key);
    }
    const count = args.length;
    args.push(this.#windowMs);
    this.#store
      .run((client) => {
        const call = (client as unknown as Record<string, RateLimitCall>)[RATE_LIMIT_COMMAND];
        if (call === undefined) throw new Error('rate-limit script is not defined');
        return call.call(client, count, ...args);
      })
      .then((flat) => this.#answer(batch, flat))
      .catch((error: unknown) => {
        // A request already answered ignores it.
        for (const request of batch) request.reject(error);
      });
  }

  #answer(batch: readonly Pending[], flat: readonly number[]): void {
    let offset = 0;
    for (const request of batch) {
      const decisions: SharedRateLimitDecision[] = [];
      for (let index = 0; index < request.keys.length; index++, offset += 2) {
        const count = Number(flat[offset]);
        const leftMs = Number(flat[offset + 1]);
        decisions.push({
          allowed: count <= this.#max,
          remaining: Math.max(0, this.#max - count),
          retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)),
        });
      }
      request.resolve(decisions);
    }
  }

  /** The connection belongs to the store; closing the limiter leaves it open. */
  async close(): Promise<void> {}
}
