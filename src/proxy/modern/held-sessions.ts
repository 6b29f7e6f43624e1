import { RequestError } from '../../errors/index.ts';
import { isRecord, type JsonRpcId, parseMessageText } from '../../mcp/index.ts';
import { LEGACY_PROTOCOL_VERSIONS } from '../../mcp/modern/protocol.ts';
import type { Principal } from '../auth-stage.ts';
import { type ExchangeContext, newSessionId, type UpstreamSession } from '../sessions.ts';
import { exchangeContext } from './client-gone.ts';
import { MessageReader } from './message-reader.ts';

/**
 * The 2025 sessions the gateway holds for 2026-07-28 clients of a 2025 upstream: one per
 * subject, opened on first use with initialize, bounded in number and closed when idle, as the
 * sessions 2025 clients open are. A subject's held session is only ever used for that subject.
 */

/** What the gateway declares when it initializes a held session for modern clients. */
const BRIDGE_CAPABILITIES = { elicitation: {}, sampling: {} };

export interface HeldSession {
  readonly subject: string;
  readonly session: UpstreamSession;
  readonly initialize: Readonly<Record<string, unknown>>;
  readonly version: string;
  /** Exchanges waiting for a client's answers, by handle. */
  readonly parked: Map<string, Parked>;
  lastUsed: number;
  /** Requests and listen streams running on it now. */
  active: number;
}

/** A 2025 exchange waiting for the modern client's retry with its answers. */
export interface Parked {
  readonly handle: string;
  readonly reader: MessageReader;
  readonly legacyId: string;
  /** Input key → the 2025 server's request id. */
  readonly inputs: ReadonlyMap<string, JsonRpcId>;
  readonly inputRequests: Readonly<Record<string, unknown>>;
  readonly method: string;
  readonly timer: NodeJS.Timeout;
}

export interface HeldSessionsOptions {
  /** Opens a 2025 session on the upstream (the route's connector). */
  readonly open: (id: string, principal: Principal) => UpstreamSession;
  /** Held sessions at most, all subjects together. */
  readonly maxSessions: number;
  /** A held session unused this long is closed. */
  readonly idleTimeoutMs: number;
  /** The gateway's own identity, sent in initialize. */
  readonly clientInfo?: { name: string; version: string } | undefined;
}

export class HeldSessions {
  readonly #options: HeldSessionsOptions;
  readonly #held = new Map<string, Promise<HeldSession>>();
  readonly #sweeper: NodeJS.Timeout;
  #closing = false;

  constructor(options: HeldSessionsOptions) {
    this.#options = options;
    const sweepEvery = Math.max(1000, Math.min(15_000, Math.floor(options.idleTimeoutMs / 2)));
    this.#sweeper = setInterval(() => void this.sweep(Date.now()), sweepEvery);
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#held.size;
  }

  /** The subject's held session, opened (initialize) when it has none. */
  async get(principal: Principal): Promise<HeldSession> {
    if (this.#closing) throw new RequestError('UpstreamUnavailable', 'the gateway is closing');
    const key = principal.subject;
    const existing = this.#held.get(key);
    if (existing !== undefined) {
      const held = await existing.catch(() => undefined);
      if (held !== undefined && !held.session.closed) return held;
      if (this.#held.get(key) === existing) this.#held.delete(key);
    }
    if (this.#held.size >= this.#options.maxSessions) {
      await this.sweep(Date.now());
      if (this.#held.size >= this.#options.maxSessions) {
        throw new RequestError('CapacityExceeded', 'too many held sessions on this upstream', {
          details: { retryAfter: '1' },
        });
      }
    }
    const opening = this.#open(principal);
    this.#held.set(key, opening);
    opening.catch(() => {
      if (this.#held.get(key) === opening) this.#held.delete(key);
    });
    return opening;
  }

  /** The subject's held session if it has one; never opens one. */
  async existing(subject: string): Promise<HeldSession | undefined> {
    const pending = this.#held.get(subject);
    return pending === undefined ? undefined : pending.catch(() => undefined);
  }

  /** Closes sessions idle for longer than the timeout, and those whose upstream ended. */
  async sweep(now: number): Promise<void> {
    for (const [key, pending] of this.#held) {
      const held = await pending.catch(() => undefined);
      if (held === undefined) continue;
      const idle = held.active === 0 && held.parked.size === 0;
      if (held.session.closed || (idle && now - held.lastUsed >= this.#options.idleTimeoutMs)) {
        this.#held.delete(key);
        await held.session.close(held.session.closed ? 'upstream ended' : 'idle');
      }
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    const all = [...this.#held.values()];
    this.#held.clear();
    for (const pending of all) {
      const held = await pending.catch(() => undefined);
      if (held === undefined) continue;
      for (const parked of held.parked.values()) {
        clearTimeout(parked.timer);
        parked.reader.cancel();
      }
      await held.session.close('gateway closing');
    }
  }

  /** initialize, then notifications/initialized (2025-11-25 lifecycle). */
  async #open(principal: Principal): Promise<HeldSession> {
    const session = this.#options.open(newSessionId(), principal);
    const version = LEGACY_PROTOCOL_VERSIONS[0];
    const context = (headers: Record<string, string>): ExchangeContext =>
      exchangeContext(
        principal,
        'bridge-initialize',
        { accept: 'application/json, text/event-stream', ...headers },
        new AbortController().signal,
      );
    try {
      const answer = await session.post(
        parseMessageText(
          JSON.stringify({
            jsonrpc: '2.0',
            id: 'portcullis-initialize',
            method: 'initialize',
            params: {
              protocolVersion: version,
              capabilities: BRIDGE_CAPABILITIES,
              clientInfo: this.#options.clientInfo ?? { name: 'portcullis', version: '0' },
            },
          }),
        ),
        undefined,
        context({ 'content-type': 'application/json' }),
      );
      const result = await initializeResultOf(answer);
      if (result === undefined) {
        throw new RequestError('UpstreamFailed', 'the upstream did not accept initialize');
      }
      const negotiated =
        typeof result.protocolVersion === 'string' ? result.protocolVersion : version;
      await session.post(
        parseMessageText('{"jsonrpc":"2.0","method":"notifications/initialized"}'),
        undefined,
        context({ 'content-type': 'application/json', 'mcp-protocol-version': negotiated }),
      );
      return {
        subject: principal.subject,
        session,
        initialize: result,
        version: negotiated,
        parked: new Map(),
        lastUsed: Date.now(),
        active: 0,
      };
    } catch (error) {
      await session.close('initialize failed');
      throw error;
    }
  }
}

async function initializeResultOf(
  answer: ConstructorParameters<typeof MessageReader>[0],
): Promise<Readonly<Record<string, unknown>> | undefined> {
  const reader = new MessageReader(answer);
  try {
    for (let message = await reader.next(); message !== undefined; message = await reader.next()) {
      if (message.id === 'portcullis-initialize') {
        return isRecord(message.result) ? message.result : undefined;
      }
    }
    return undefined;
  } finally {
    reader.cancel();
  }
}

/** The context of a request the gateway sends on a held session. */
export function heldContext(
  held: HeldSession,
  principal: Principal,
  requestId: string,
  signal: AbortSignal,
): ExchangeContext {
  return exchangeContext(
    principal,
    requestId,
    {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': held.version,
    },
    signal,
  );
}
