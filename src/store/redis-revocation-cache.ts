import type { RedisStore } from './redis.ts';
import type { RedisClient } from './redis-connection.ts';
import { openSubscriber } from './redis-subscription.ts';

interface Entry {
  readonly grantId: string | undefined;
  revoked: boolean;
  readonly until: number;
}

export interface RevocationCacheOptions {
  /** Most tokens remembered; the oldest is dropped beyond it. Default 10 000. */
  readonly maxEntries?: number;
  /** How long an answer is kept even if no message arrives. Default 30 s. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/**
 * A replica's answer to "is this access token revoked?" without a Redis round trip per request:
 * answers are cached per jti, and every revocation any replica makes is published on the store's
 * channel (the store publishes after each newly recorded revocation), so the cache marks the
 * token (or every cached token of the grant) revoked as soon as the message arrives, typically
 * within milliseconds.
 *
 * Fail closed: the cache answers only while its subscription is live. When the subscriber
 * connection drops, messages may be missed, so the cache is emptied and every check goes to the
 * store (which itself fails with StoreUnavailableError while Redis is down) until it is back.
 * An answer fetched while a revocation message arrived is not cached (it may predate it).
 */
export class RedisRevocationCache {
  readonly #store: RedisStore;
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #subscriber: RedisClient | undefined;
  #live = false;
  /** Bumped by every message and every reconnect: a lookup that saw it change is not cached. */
  #generation = 0;

  constructor(store: RedisStore, options: RevocationCacheOptions = {}) {
    this.#store = store;
    this.#max = options.maxEntries ?? 10_000;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** Subscribes to the revocation channel; resolves once messages flow. */
  async start(): Promise<void> {
    const { subscriber, subscribed } = openSubscriber(
      this.#store.connection,
      this.#store.keys.revocationChannel,
      {
        down: () => {
          this.#live = false;
          this.#generation++;
          this.#entries.clear();
        },
        // After a reconnect, answers are cached again only once the subscription is confirmed.
        up: (confirmed) => {
          if (this.#subscriber !== confirmed) return;
          this.#generation++;
          this.#live = true;
        },
        message: (message) => this.#onMessage(message),
      },
    );
    this.#subscriber = subscriber;
    await subscribed;
    this.#live = true;
  }

  /** True while answers may be served from memory. */
  get live(): boolean {
    return this.#live;
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    const now = this.#now();
    const cached = this.#entries.get(jti);
    if (this.#live && cached !== undefined && cached.until > now) return cached.revoked;
    if (cached !== undefined) this.#entries.delete(jti);
    const generation = this.#generation;
    const state = await this.#store.accessTokenState(jti);
    if (this.#live && generation === this.#generation) {
      if (this.#entries.size >= this.#max) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
      this.#entries.set(jti, { ...state, until: now + this.#ttlMs });
    }
    return state.revoked;
  }

  /**
   * Resolves once every message published before this call has been handled: a PING on the
   * subscriber connection is answered after the messages queued ahead of it.
   */
  async flushed(): Promise<void> {
    await this.#subscriber?.ping();
  }

  #onMessage(message: string): void {
    this.#generation++;
    if (message.startsWith('jti:')) {
      const entry = this.#entries.get(message.slice(4));
      if (entry) entry.revoked = true;
    } else if (message.startsWith('grant:')) {
      const grantId = message.slice(6);
      for (const entry of this.#entries.values()) {
        if (entry.grantId === grantId) entry.revoked = true;
      }
    }
  }

  async close(): Promise<void> {
    this.#live = false;
    this.#entries.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber === undefined) return;
    try {
      await subscriber.quit();
    } catch {
      subscriber.disconnect();
    }
  }
}
