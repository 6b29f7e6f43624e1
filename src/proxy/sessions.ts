import { randomBytes } from 'node:crypto';
import { RequestError } from '../errors/index.ts';
import type { ParsedMessage, ResponseFilter } from '../mcp/index.ts';
import type { Principal, RequestHeaders } from './auth-stage.ts';
import type { Answer } from './responses.ts';
import type { McpRoute } from './routes.ts';
import { checkSubjectShare } from './subject-share.ts';

/**
 * MCP sessions the gateway issued. Session ids are 192-bit random values (MCP security best
 * practices, "Session Hijacking": secure, non-deterministic), bound to the subject that opened
 * them: another subject presenting the id gets 404, as if it did not exist. A session never
 * authenticates anything: every request is authenticated on its own first.
 */

/** base64url of 24 random bytes. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;

export function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}

/** What a session's handlers get besides the message. */
export interface ExchangeContext {
  readonly principal: Principal;
  readonly requestId: string;
  readonly headers: RequestHeaders;
  /**
   * Calls `listener` if the client goes away before its answer is complete (at once if it
   * already has); returns a function that removes it. A listener rather than an AbortSignal:
   * almost every request completes, and an AbortController per request was measurable.
   */
  onClientGone(listener: () => void): () => void;
}

/** The upstream side of one client session. */
export interface UpstreamSession {
  readonly id: string;
  readonly subject: string;
  readonly route: McpRoute;
  /** Forwards one authorized message and answers the client; `filter` rewrites its answer. */
  post(
    parsed: ParsedMessage,
    filter: ResponseFilter | undefined,
    context: ExchangeContext,
  ): Promise<Answer>;
  /** Opens the client's server-to-client SSE stream. */
  get(context: ExchangeContext): Promise<Answer>;
  /** Ends the session at the client's request. */
  delete(context: ExchangeContext): Promise<Answer>;
  /** Stops everything the session holds (child process, upstream requests, streams). */
  close(reason: string): Promise<void>;
  /** Milliseconds since the last activity, or 0 while a request or stream is open. */
  idleFor(now: number): number;
  /** True once the upstream side is gone (child exited, upstream forgot the session). */
  readonly closed: boolean;
}

/**
 * What any replica needs to serve a session of an HTTP upstream it did not open: whose it is
 * (the subject binding, checked on every request), which route, and the upstream's own session
 * id to forward. The session id itself is the record's name, never stored in clear.
 */
export interface SharedSessionRecord {
  readonly id: string;
  readonly subject: string;
  /** The route's path: the session serves that route only. */
  readonly route: string;
  /** The Mcp-Session-Id the upstream issued, when it issued one. */
  readonly upstreamSessionId?: string | undefined;
}

/**
 * Sessions shared by the replicas on one store (Redis), absent on a single replica. Failures to
 * reach the store throw (StoreUnavailableError: 503 with Retry-After).
 */
export interface SharedSessions {
  /** Records a session for `ttlMs`; resolves once every replica can find it. */
  put(record: SharedSessionRecord, ttlMs: number): Promise<void>;
  get(id: string): Promise<SharedSessionRecord | undefined>;
  /** Moves the record's expiry to `ttlMs` from now (the session is in use). */
  touch(id: string, ttlMs: number): Promise<void>;
  /** Deletes the record and tells every replica, whose copies then end too. */
  end(id: string): Promise<void>;
  /**
   * `ended`: another replica ended a session. `lost`: messages may have been missed (the
   * subscription dropped, or came back), so every copy held must be read again.
   */
  watch(listener: { ended(id: string): void; lost(): void }): void;
}

/** What the registry asks of a session it opens. */
export interface SessionHooks {
  /**
   * The upstream accepted initialize: resolves once the session is recorded where every
   * replica finds it, before the client learns the session id. A throw fails the initialize.
   */
  established(upstreamSessionId: string | undefined): Promise<void>;
}

/** Opens sessions on one upstream. */
export interface UpstreamConnector {
  readonly route: McpRoute;
  /** Throws RequestError CapacityExceeded / UpstreamUnavailable when no session can be opened. */
  open(id: string, principal: Principal, hooks?: SessionHooks): UpstreamSession;
  /**
   * Present when any replica can serve the connector's sessions (an HTTP upstream: the upstream
   * keeps the session state): the session a shared record describes, initialized.
   */
  resume?(record: SharedSessionRecord): UpstreamSession;
  close(): Promise<void>;
  /** Readiness: can the upstream be reached (HTTP) or started (stdio)? */
  probe?(): Promise<{ ok: boolean; detail: string }>;
  /** Child processes running now (stdio upstreams). */
  readonly childProcesses?: number;
}

/** A session whose record is in the shared store. */
interface SharedMark {
  /** Read from the store rather than opened here. */
  readonly adopted: boolean;
  /** When this replica last moved the record's expiry. */
  touchedAt: number;
}

export class SessionRegistry {
  readonly #sessions = new Map<string, UpstreamSession>();
  readonly #sweeper: NodeJS.Timeout;
  /**
   * Sessions of HTTP upstreams live in the shared store too (several replicas on one Redis), so
   * any replica serves them; a replica keeps a copy of each session it served (opened here or
   * read from the store), dropped when it ends anywhere or when it idles here.
   */
  readonly #shared: SharedSessions | undefined;
  readonly #marks = new WeakMap<UpstreamSession, SharedMark>();
  #closing = false;

  constructor(options: { sweepIntervalMs?: number; shared?: SharedSessions } = {}) {
    this.#sweeper = setInterval(() => this.sweep(Date.now()), options.sweepIntervalMs ?? 15_000);
    this.#sweeper.unref();
    this.#shared = options.shared;
    this.#shared?.watch({
      ended: (id) => {
        const session = this.#sessions.get(id);
        if (session === undefined || !this.#marks.has(session)) return;
        this.#sessions.delete(id);
        void session.close('ended on another replica');
      },
      // The copies are dropped, not closed: what is under way finishes, and the next request
      // reads the record again (gone if the session ended meanwhile).
      lost: () => {
        for (const [id, session] of this.#sessions) {
          if (this.#marks.has(session)) this.#sessions.delete(id);
        }
      },
    });
  }

  /**
   * Sessions currently open on a route (of one subject, when given). Copies of sessions another
   * replica opened are not counted: they hold nothing here but a few fields.
   */
  countFor(route: McpRoute, subject?: string): number {
    let count = 0;
    for (const session of this.#sessions.values()) {
      if (session.route !== route || session.closed) continue;
      if (this.#marks.get(session)?.adopted === true) continue;
      if (subject === undefined || session.subject === subject) count += 1;
    }
    return count;
  }

  /** Opens a session, enforcing the route's max_sessions (503 beyond it). */
  open(connector: UpstreamConnector, principal: Principal): UpstreamSession {
    if (this.#closing) {
      throw new RequestError('UpstreamUnavailable', 'the gateway is shutting down');
    }
    const route = connector.route;
    if (this.countFor(route) >= route.upstream.max_sessions) {
      // Before a client is turned away: sessions past their idle limit go, then this subject's
      // own least recently used inactive session (clients that go away without DELETE would
      // otherwise hold their children until the idle timeout). Never another subject's.
      this.sweep(Date.now());
      if (this.countFor(route) >= route.upstream.max_sessions) {
        this.#evictInactive(route, principal.subject, Date.now());
      }
      if (this.countFor(route) >= route.upstream.max_sessions) {
        throw new RequestError(
          'CapacityExceeded',
          `upstream ${route.name} has its maximum of ${route.upstream.max_sessions} sessions`,
          { details: { retryAfter: '5' } },
        );
      }
    }
    checkSubjectShare(this, route, principal.subject, (now) =>
      this.#evictInactive(route, principal.subject, now),
    );
    const id = newSessionId();
    const shared = this.#shared;
    const session =
      shared === undefined || connector.resume === undefined
        ? connector.open(id, principal)
        : connector.open(id, principal, {
            established: async (upstreamSessionId) => {
              const record = {
                id,
                subject: principal.subject,
                route: route.path,
                upstreamSessionId,
              };
              await shared.put(record, idleLimitMs(route));
              this.#marks.set(session, { adopted: false, touchedAt: Date.now() });
            },
          });
    this.#sessions.set(session.id, session);
    return session;
  }

  /** Whether sessions of HTTP upstreams are shared with other replicas (a shared store). */
  get shared(): boolean {
    return this.#shared !== undefined;
  }

  /**
   * Reads a session another replica opened from the shared store and keeps a copy, when the
   * route's sessions can be served from any replica; true when this replica now holds it.
   * The subject binding is checked by find and lookup, as for a session opened here.
   */
  async adopt(id: string, route: McpRoute, connector: UpstreamConnector): Promise<boolean> {
    if (this.#shared === undefined || connector.resume === undefined || this.#closing) {
      return false;
    }
    const record = await this.#shared.get(id);
    if (record === undefined || record.id !== id || record.route !== route.path) return false;
    // Another request may have read it meanwhile.
    if (this.holds(id, route)) return true;
    const session = connector.resume(record);
    this.#marks.set(session, { adopted: true, touchedAt: Date.now() });
    this.#sessions.set(id, session);
    return true;
  }

  /**
   * Ends a session at the client's request: forgotten here and, when shared, in the store and on
   * every replica holding a copy (resolves once the store has it).
   */
  async end(session: UpstreamSession): Promise<void> {
    this.remove(session);
    if (this.#marks.has(session)) await this.#shared?.end(session.id);
  }

  /**
   * The session for an id on a route, if it belongs to this subject. Anything else (unknown,
   * closed, another route, another subject) is 404 McpSessionNotFound, the spec's answer that
   * tells the client to start a new session.
   */
  find(id: string, route: McpRoute, principal: Principal): UpstreamSession {
    const session = this.#sessions.get(id);
    if (session?.closed) {
      this.#sessions.delete(id);
      void session.close('upstream gone');
      // The upstream ended it: so do the other replicas' copies.
      if (this.#marks.has(session)) void this.#shared?.end(id).catch(() => {});
    } else if (session !== undefined && session.route === route) {
      if (session.subject === principal.subject) {
        this.#keepShared(session);
        return session;
      }
    }
    throw new RequestError('McpSessionNotFound', 'no such session; initialize a new one');
  }

  /**
   * A shared record expires after the route's idle limit unless a replica uses the session:
   * each replica moves the expiry at most once per quarter of that limit, so a request almost
   * never costs a round trip for it. Best effort: a request that lands while the store is down
   * is refused by the rate limiter already.
   */
  #keepShared(session: UpstreamSession): void {
    const mark = this.#marks.get(session);
    if (mark === undefined || this.#shared === undefined) return;
    const now = Date.now();
    const limitMs = idleLimitMs(session.route);
    if (now - mark.touchedAt < limitMs / 4) return;
    mark.touchedAt = now;
    void this.#shared.touch(session.id, limitMs).catch(() => {});
  }

  /** The live session for an id on a route if it is this subject's; undefined otherwise. Changes nothing. */
  lookup(id: string, route: McpRoute, principal: Principal): UpstreamSession | undefined {
    const session = this.#sessions.get(id);
    return session !== undefined &&
      !session.closed &&
      session.route === route &&
      session.subject === principal.subject
      ? session
      : undefined;
  }

  /**
   * Whether this process holds a live session with this id on this route, whoever owns it. Asked
   * before any rate limit is counted: behind a load balancer that passes a 404 on to the next
   * replica, a session held elsewhere must not spend this replica's (shared) budget.
   */
  holds(id: string, route: McpRoute): boolean {
    const session = this.#sessions.get(id);
    return session !== undefined && !session.closed && session.route === route;
  }

  #evictInactive(route: McpRoute, subject: string, now: number): void {
    let oldest: UpstreamSession | undefined;
    for (const session of this.#sessions.values()) {
      if (session.route !== route || session.subject !== subject || session.closed) continue;
      if (this.#marks.get(session)?.adopted === true) continue;
      const idle = session.idleFor(now);
      if (idle > 0 && (oldest === undefined || idle > oldest.idleFor(now))) oldest = session;
    }
    if (oldest === undefined) return;
    this.#sessions.delete(oldest.id);
    void oldest.close('evicted for a new session of the same subject');
  }

  remove(session: UpstreamSession): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
  }

  /**
   * Closes sessions idle longer than their route allows, and forgets dead ones. A shared
   * session idle here may be busy on another replica: closing this copy leaves its record,
   * which expires on its own once no replica uses the session.
   */
  sweep(now: number): void {
    for (const session of this.#sessions.values()) {
      const limitMs = idleLimitMs(session.route);
      if (session.closed || session.idleFor(now) >= limitMs) {
        this.#sessions.delete(session.id);
        void session.close(session.closed ? 'upstream gone' : 'idle timeout');
      }
    }
  }

  get size(): number {
    return this.#sessions.size;
  }

  async closeAll(reason: string): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(sessions.map((session) => session.close(reason)));
  }
}

function idleLimitMs(route: McpRoute): number {
  return route.upstream.session_idle_timeout_seconds * 1000;
}
