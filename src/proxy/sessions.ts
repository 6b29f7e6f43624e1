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

/** Opens sessions on one upstream. */
export interface UpstreamConnector {
  readonly route: McpRoute;
  /** Throws RequestError CapacityExceeded / UpstreamUnavailable when no session can be opened. */
  open(id: string, principal: Principal): UpstreamSession;
  close(): Promise<void>;
  /** Readiness: can the upstream be reached (HTTP) or started (stdio)? */
  probe?(): Promise<{ ok: boolean; detail: string }>;
  /** Child processes running now (stdio upstreams). */
  readonly childProcesses?: number;
}

export class SessionRegistry {
  readonly #sessions = new Map<string, UpstreamSession>();
  readonly #sweeper: NodeJS.Timeout;
  #closing = false;

  constructor(options: { sweepIntervalMs?: number } = {}) {
    this.#sweeper = setInterval(() => this.sweep(Date.now()), options.sweepIntervalMs ?? 15_000);
    this.#sweeper.unref();
  }

  /** Sessions currently open on a route (of one subject, when given). */
  countFor(route: McpRoute, subject?: string): number {
    let count = 0;
    for (const session of this.#sessions.values()) {
      if (session.route !== route || session.closed) continue;
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
    const session = connector.open(newSessionId(), principal);
    this.#sessions.set(session.id, session);
    return session;
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
    } else if (session !== undefined && session.route === route) {
      if (session.subject === principal.subject) return session;
    }
    throw new RequestError('McpSessionNotFound', 'no such session; initialize a new one');
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

  /** Closes sessions idle longer than their route allows, and forgets dead ones. */
  sweep(now: number): void {
    for (const session of this.#sessions.values()) {
      const limitMs = session.route.upstream.session_idle_timeout_seconds * 1000;
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
