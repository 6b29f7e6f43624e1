import { createHash } from 'node:crypto';
import type { RedisStore } from './redis.ts';
import type { RedisClient } from './redis-connection.ts';
import { openSubscriber } from './redis-subscription.ts';

/** The same shape as the gateway's SharedSessionRecord (src/proxy/sessions.ts). */
export interface McpSessionRecord {
  readonly id: string;
  readonly subject: string;
  readonly route: string;
  readonly upstreamSessionId?: string | undefined;
}

interface SessionWatcher {
  ended(id: string): void;
  lost(): void;
}

/** The name a session id is kept under: never the id itself, which is the client's handle. */
const nameOf = (id: string) => createHash('sha256').update(id).digest('base64url');

/**
 * Legacy MCP sessions of HTTP upstreams, shared by every replica on one Redis: one key per
 * session (the SHA-256 of its id) holding the subject it is bound to, its route and the
 * upstream's own session id, expiring after the route's idle limit unless a replica uses the
 * session. Ending a session deletes the key and publishes the ended id, so every replica drops
 * its copy (Redis pub/sub). It satisfies the gateway's SharedSessions interface structurally.
 *
 * Fail closed: while the subscription is down, ended messages may be missed, so the watcher is
 * told (`lost`) when it drops and again once it is back, and drops every copy it holds; every
 * store failure surfaces as StoreUnavailableError.
 */
export class RedisSessionDirectory {
  readonly #store: RedisStore;
  #subscriber: RedisClient | undefined;
  readonly #watchers: SessionWatcher[] = [];
  #closed = false;
  #live = false;

  constructor(store: RedisStore) {
    this.#store = store;
  }

  /** Subscribes to the channel of ended sessions; resolves once messages flow. */
  async start(): Promise<void> {
    const lost = () => {
      for (const watcher of this.#watchers) watcher.lost();
    };
    const { subscriber, subscribed } = openSubscriber(
      this.#store.connection,
      this.#store.keys.mcpSessionChannel,
      {
        down: () => {
          this.#live = false;
          lost();
        },
        up: (confirmed) => {
          // Whatever was read while messages could not arrive is read again.
          if (this.#subscriber !== confirmed) return;
          this.#live = true;
          lost();
        },
        message: (id) => {
          for (const watcher of this.#watchers) watcher.ended(id);
        },
      },
    );
    this.#subscriber = subscriber;
    await subscribed;
    this.#live = true;
    // Copies read before the first subscription was confirmed are read again.
    lost();
  }

  /** True while ended messages arrive. */
  get live(): boolean {
    return this.#live;
  }

  watch(watcher: SessionWatcher): void {
    this.#watchers.push(watcher);
  }

  async put(record: McpSessionRecord, ttlMs: number): Promise<void> {
    const value = JSON.stringify({
      subject: record.subject,
      route: record.route,
      ...(record.upstreamSessionId === undefined ? {} : { upstream: record.upstreamSessionId }),
    });
    await this.#store.run((client) =>
      client.set(this.#store.keys.mcpSession(nameOf(record.id)), value, 'PX', ttlMs),
    );
  }

  async get(id: string): Promise<McpSessionRecord | undefined> {
    const value = await this.#store.run((client) =>
      client.get(this.#store.keys.mcpSession(nameOf(id))),
    );
    if (value === null) return undefined;
    const parsed = JSON.parse(value) as { subject?: unknown; route?: unknown; upstream?: unknown };
    if (typeof parsed.subject !== 'string' || typeof parsed.route !== 'string') return undefined;
    return {
      id,
      subject: parsed.subject,
      route: parsed.route,
      ...(typeof parsed.upstream === 'string' ? { upstreamSessionId: parsed.upstream } : {}),
    };
  }

  async touch(id: string, ttlMs: number): Promise<void> {
    await this.#store.run((client) =>
      client.pexpire(this.#store.keys.mcpSession(nameOf(id)), ttlMs),
    );
  }

  /**
   * The message names the session by its id: once the record is deleted the id opens nothing,
   * and the replicas find their copies by it.
   */
  async end(id: string): Promise<void> {
    await this.#store.run(async (client) => {
      await client.del(this.#store.keys.mcpSession(nameOf(id)));
      await client.publish(this.#store.keys.mcpSessionChannel, id);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
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
