import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import {
  answeredId,
  errorResponse,
  idKey,
  isRecord,
  JSON_RPC_ERRORS,
  type JsonRpcId,
  type ParsedMessage,
  type ResponseFilter,
  ResponseTracker,
} from '../../mcp/index.ts';
import type { Principal } from '../auth-stage.ts';
import { PushStream } from '../push-stream.ts';
import {
  type Answer,
  accepted,
  accepts,
  jsonResponse,
  SESSION_HEADER,
  sseHeaders,
} from '../responses.ts';
import type { McpRoute } from '../routes.ts';
import type { ExchangeContext, UpstreamConnector, UpstreamSession } from '../sessions.ts';
import { encodeSseEvent } from '../sse.ts';
import { commandStartable } from './probe.ts';
import { childEnvironment, type ExitInfo, StdioChild } from './stdio.ts';

/**
 * A stdio upstream behind the HTTP front. The gateway is the Streamable HTTP server here: one
 * child process per MCP session, each request's response (and the progress notifications that
 * name its progress token) on that request's SSE stream, anything else the server sends on the
 * client's GET stream or, without one, on the newest open request stream.
 */

/** Messages kept for a client that has no stream open yet. */
const MAX_QUEUED_MESSAGES = 100;
/** Backoff after children that die before answering anything (crash loops). */
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;

interface Pending {
  readonly id: JsonRpcId;
  /** SSE stream of the request, or the resolver of a JSON answer. */
  readonly stream: PushStream | undefined;
  readonly resolve: ((text: string) => void) | undefined;
  /** Rewrites the answer (tools/list, initialize), when set. */
  readonly filter: ResponseFilter | undefined;
  readonly progressKey: string | undefined;
  readonly openedAt: number;
}

export class StdioConnector implements UpstreamConnector {
  readonly route: McpRoute;
  readonly #logger: Logger;
  #failures = 0;
  #retryAt = 0;
  #running = 0;

  constructor(route: McpRoute, logger: Logger) {
    this.route = route;
    this.#logger = logger;
  }

  /** Child processes running now. */
  get childProcesses(): number {
    return this.#running;
  }

  /** Readiness: not backing off after failed starts, and the command resolves to an executable. */
  async probe(): Promise<{ ok: boolean; detail: string }> {
    if (Date.now() < this.#retryAt) return { ok: false, detail: 'backing off after failed starts' };
    const { command = '', env, cwd } = this.route.upstream;
    return (await commandStartable(command, childEnvironment(env).PATH, cwd))
      ? { ok: true, detail: 'startable' }
      : { ok: false, detail: 'command not found or not executable' };
  }

  open(id: string, principal: Principal): UpstreamSession {
    const now = Date.now();
    if (now < this.#retryAt) {
      const seconds = Math.max(1, Math.ceil((this.#retryAt - now) / 1000));
      throw new RequestError(
        'UpstreamUnavailable',
        `upstream ${this.route.name} is restarting after failures`,
        { details: { retryAfter: String(seconds) } },
      );
    }
    const session = new StdioSession(id, principal.subject, this.route, this.#logger, (info) => {
      this.#running -= 1;
      this.#childExited(info);
    });
    this.#running += 1;
    return session;
  }

  async close(): Promise<void> {}

  #childExited(info: ExitInfo): void {
    if (!info.beforeFirstMessage) {
      this.#failures = 0;
      return;
    }
    this.#failures += 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.#failures - 1));
    this.#retryAt = Date.now() + delay;
    this.#logger.warn(
      { upstream: this.route.name, failures: this.#failures, backoffMs: delay },
      'upstream process failed before answering; backing off',
    );
  }
}

export class StdioSession implements UpstreamSession {
  readonly id: string;
  readonly subject: string;
  readonly route: McpRoute;
  readonly #logger: Logger;
  readonly #child: StdioChild;
  readonly #pending = new ResponseTracker<Pending>();
  /** Progress token (as an id key) → the request that named it. */
  readonly #progress = new Map<string, Pending>();
  readonly #queue: string[] = [];
  #getStream: PushStream | undefined;
  #lastActive = Date.now();
  #closed = false;
  #initialized = false;

  constructor(
    id: string,
    subject: string,
    route: McpRoute,
    logger: Logger,
    onExit: (info: ExitInfo) => void,
  ) {
    this.id = id;
    this.subject = subject;
    this.route = route;
    this.#logger = logger.child({ upstream: route.name, session: id.slice(0, 8) });
    const { command = '', args, env, cwd } = route.upstream;
    this.#child = new StdioChild(
      { name: route.name, command, args, env, cwd },
      { logger, onMessage: (text) => this.#fromChild(text) },
    );
    void this.#child.exited.then((info) => {
      this.#childGone(info);
      onExit(info);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  idleFor(now: number): number {
    if (this.#pending.size > 0 || (this.#getStream !== undefined && !this.#getStream.closed)) {
      return 0;
    }
    return now - this.#lastActive;
  }

  async post(
    parsed: ParsedMessage,
    filter: ResponseFilter | undefined,
    context: ExchangeContext,
  ): Promise<Answer> {
    this.#lastActive = Date.now();
    checkProtocolVersion(context.headers);
    const { message } = parsed;
    const isInitialize = message.kind === 'request' && message.method === 'initialize';
    const sessionHeader: Record<string, string> = isInitialize ? { [SESSION_HEADER]: this.id } : {};
    if (this.#closed) throw new RequestError('McpSessionNotFound', 'the session has ended');
    if (message.kind !== 'request') {
      if (!this.#child.send(parsed.text)) {
        throw new RequestError('McpSessionNotFound', 'the session has ended');
      }
      return accepted();
    }
    if (isInitialize && this.#initialized) {
      throw new RequestError('RequestMalformed', 'this session is already initialized');
    }
    if (isInitialize) this.#initialized = true;
    if (this.#pending.has(message.id)) {
      throw new RequestError('RequestMalformed', 'a request with this id is already in flight');
    }
    const progressToken = progressTokenOf(message.params);
    const progressKey = progressToken === undefined ? undefined : idKey(progressToken);
    const wantsSse = accepts(context.headers.accept, 'text/event-stream');

    const base = { id: message.id, filter, progressKey, openedAt: Date.now() };
    if (wantsSse) {
      // A client that goes away does not cancel the request (MCP transports); its answer is
      // simply dropped when it comes.
      const stream: PushStream = new PushStream({ onCancel: () => this.#untrack(pending) });
      const pending: Pending = { ...base, stream, resolve: undefined };
      this.#track(pending);
      this.#child.send(parsed.text);
      return new Response(stream.stream, { status: 200, headers: sseHeaders(sessionHeader) });
    }
    let pending: Pending | undefined;
    const answer = new Promise<string>((resolve) => {
      pending = { ...base, stream: undefined, resolve };
      this.#track(pending);
    });
    const forget = () => {
      if (pending === undefined) return;
      this.#untrack(pending);
      pending.resolve?.(
        errorResponse(message.id, JSON_RPC_ERRORS.internalError, 'the client went away'),
      );
    };
    const stopWatching = context.onClientGone(forget);
    this.#child.send(parsed.text);
    try {
      return jsonResponse(await answer, 200, sessionHeader);
    } finally {
      stopWatching();
    }
  }

  async get(context: ExchangeContext): Promise<Answer> {
    this.#lastActive = Date.now();
    checkProtocolVersion(context.headers);
    if (this.#closed) throw new RequestError('McpSessionNotFound', 'the session has ended');
    // One standalone stream per session: a new GET replaces the old one. This gateway issues no
    // event ids, so there is nothing to resume and Last-Event-ID is ignored.
    this.#getStream?.close();
    const stream = new PushStream({
      onCancel: () => {
        if (this.#getStream === stream) this.#getStream = undefined;
        this.#lastActive = Date.now();
      },
    });
    this.#getStream = stream;
    for (const text of this.#queue.splice(0)) stream.write(messageEvent(text));
    return new Response(stream.stream, { status: 200, headers: sseHeaders() });
  }

  async delete(_context: ExchangeContext): Promise<Answer> {
    await this.close('ended by the client');
    return new Response(null, { status: 200 });
  }

  async close(reason: string): Promise<void> {
    if (!this.#closed) {
      this.#logger.info({ reason }, 'closing session');
      this.#closed = true;
    }
    await this.#child.stop();
  }

  #track(pending: Pending): void {
    this.#pending.track(pending.id, pending);
    if (pending.progressKey !== undefined) this.#progress.set(pending.progressKey, pending);
  }

  #untrack(pending: Pending): void {
    if (!this.#pending.untrack(pending.id, pending)) return;
    if (pending.progressKey !== undefined) this.#progress.delete(pending.progressKey);
  }

  #fromChild(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.#logger.warn({ length: text.length }, 'upstream wrote a line that is not JSON; dropped');
      return;
    }
    if (!isRecord(message)) {
      this.#logger.warn('upstream wrote JSON that is not a message; dropped');
      return;
    }
    this.#lastActive = Date.now();
    const id = answeredId(message);
    if (id !== undefined) {
      const pending = this.#pending.get(id);
      if (pending === undefined) {
        this.#logger.warn('upstream answered a request that is not pending; dropped');
        return;
      }
      this.#untrack(pending);
      const out = pending.filter === undefined ? text : pending.filter(message);
      this.#answer(pending, out);
      return;
    }
    this.#route(message, text);
  }

  /** Where a server-to-client request or notification goes. */
  #route(message: Readonly<Record<string, unknown>>, text: string): void {
    const params = isRecord(message.params) ? message.params : undefined;
    const token = params?.progressToken;
    if (typeof token === 'string' || typeof token === 'number') {
      const pending = this.#progress.get(idKey(token));
      if (pending?.stream?.write(messageEvent(text))) return;
    }
    if (this.#getStream?.write(messageEvent(text))) return;
    let newest: Pending | undefined;
    for (const pending of this.#pending.values()) {
      if (pending.stream !== undefined && !pending.stream.closed) {
        if (newest === undefined || pending.openedAt >= newest.openedAt) newest = pending;
      }
    }
    if (newest?.stream?.write(messageEvent(text))) return;
    if (this.#queue.length >= MAX_QUEUED_MESSAGES) this.#queue.shift();
    this.#queue.push(text);
  }

  #answer(pending: Pending, text: string): void {
    if (pending.stream !== undefined) {
      pending.stream.write(messageEvent(text));
      pending.stream.close();
    } else {
      pending.resolve?.(text);
    }
  }

  /** The child exited: every open request gets a JSON-RPC error, every stream ends. */
  #childGone(info: ExitInfo): void {
    this.#closed = true;
    const level = info.code === 0 && this.#pending.size === 0 ? 'info' : 'warn';
    this.#logger[level](
      { code: info.code, signal: info.signal, pendingRequests: this.#pending.size },
      'upstream process exited',
    );
    for (const pending of [...this.#pending.values()]) {
      this.#untrack(pending);
      this.#answer(
        pending,
        errorResponse(
          pending.id,
          JSON_RPC_ERRORS.upstreamGone,
          'the upstream MCP server exited; start a new session',
          { upstream: this.route.name },
        ),
      );
    }
    this.#getStream?.close();
    this.#getStream = undefined;
  }
}

function messageEvent(text: string): string {
  return encodeSseEvent({ event: 'message', data: text });
}

function progressTokenOf(params: Readonly<Record<string, unknown>> | undefined) {
  const meta = params?._meta;
  if (!isRecord(meta)) return undefined;
  const token = meta.progressToken;
  return typeof token === 'string' || (typeof token === 'number' && Number.isFinite(token))
    ? token
    : undefined;
}

/** MCP transports, "Protocol Version Header": an unsupported version is 400. */
function checkProtocolVersion(headers: Readonly<Record<string, string | undefined>>): void {
  const version = headers['mcp-protocol-version'];
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new RequestError('RequestMalformed', `unsupported MCP-Protocol-Version ${version}`);
  }
}
