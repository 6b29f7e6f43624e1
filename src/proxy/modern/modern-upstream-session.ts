import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import {
  errorResponse,
  idKey,
  isRecord,
  type JsonRpcId,
  type ParsedMessage,
  type ResponseFilter,
} from '../../mcp/index.ts';
import type { ModernRequest } from '../../mcp/modern/inbound.ts';
import { ParamHeaderMirror } from '../../mcp/modern/param-headers.ts';
import {
  LEGACY_PROTOCOL_VERSIONS,
  META,
  MODERN_PROTOCOL_VERSION,
  NAME_SOURCE,
} from '../../mcp/modern/protocol.ts';
import { initializeFromDiscover, toLegacyResult } from '../../mcp/modern/results.ts';
import type { Principal } from '../auth-stage.ts';
import { PushStream } from '../push-stream.ts';
import { type Answer, accepts, BoundedAnswer, SESSION_HEADER, sseHeaders } from '../responses.ts';
import type { McpRoute } from '../routes.ts';
import type { ExchangeContext, UpstreamConnector, UpstreamSession } from '../sessions.ts';
import { encodeSseEvent } from '../sse.ts';
import { clientSignalOf, whenClientGone } from './client-gone.ts';
import type { ModernHttpForwarder } from './http-forward.ts';
import { MessageReader } from './message-reader.ts';
import { acceptedAnswer, jsonAnswer } from './web-answers.ts';

/**
 * A 2025 client in front of a server that speaks only 2026-07-28. The gateway plays the 2025
 * server: it answers `initialize` itself from the upstream's `server/discover`, issues the
 * session (bound to the subject by the session registry, like every session), and turns each
 * request of the session into a stateless 2026-07-28 request carrying the per-request `_meta`
 * envelope built from what the client said in initialize (basic/versioning "Backward
 * Compatibility"). The GET stream becomes a `subscriptions/listen` request upstream. An
 * InputRequiredResult (basic/patterns/mrtr) becomes the 2025 server-to-client requests on the
 * request's stream; the client's answers, posted as JSON-RPC responses, are collected and the
 * original request is retried with them (and the upstream's own requestState, echoed as is).
 */

interface Exchange {
  readonly clientId: JsonRpcId;
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly stream: PushStream;
  readonly filter: ResponseFilter | undefined;
  readonly abort: AbortController;
  /** Server-to-client request id → input key, while waiting for the client's answers. */
  readonly waiting: Map<string, string>;
  readonly answers: Record<string, unknown>;
  requestState: string | undefined;
  /** Called when the last awaited answer arrives. */
  resolveAnswers: (() => void) | undefined;
}

/** Listen filter for the notifications a 2025 GET stream carried. */
const LISTEN_ALL = { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true };

export class ModernUpstreamConnector implements UpstreamConnector {
  readonly route: McpRoute;
  readonly #forwarder: ModernHttpForwarder;
  readonly #logger: Logger;

  constructor(route: McpRoute, forwarder: ModernHttpForwarder, logger: Logger) {
    this.route = route;
    this.#forwarder = forwarder;
    this.#logger = logger.child({ upstream: route.name });
  }

  open(id: string, principal: Principal): UpstreamSession {
    return new ModernUpstreamSession(
      id,
      principal.subject,
      this.route,
      this.#forwarder,
      this.#logger,
    );
  }

  async close(): Promise<void> {
    await this.#forwarder.close();
  }
}

export class ModernUpstreamSession implements UpstreamSession {
  readonly id: string;
  readonly subject: string;
  readonly route: McpRoute;
  readonly #forwarder: ModernHttpForwarder;
  readonly #logger: Logger;
  readonly #exchanges = new Map<string, Exchange>();
  /** Server-to-client request id → the exchange waiting for its answer. */
  readonly #inputs = new Map<string, Exchange>();
  /** x-mcp-header declarations learned from tools/list (for Mcp-Param-* mirroring). */
  readonly #paramHeaders = new ParamHeaderMirror();
  #clientCapabilities: Readonly<Record<string, unknown>> = {};
  #clientInfo: Readonly<Record<string, unknown>> | undefined;
  #initialized = false;
  #closed = false;
  #counter = 0;
  #listen: AbortController | undefined;
  #getStream: PushStream | undefined;
  #lastActive = Date.now();

  constructor(
    id: string,
    subject: string,
    route: McpRoute,
    forwarder: ModernHttpForwarder,
    logger: Logger,
  ) {
    this.id = id;
    this.subject = subject;
    this.route = route;
    this.#forwarder = forwarder;
    this.#logger = logger;
  }

  get closed(): boolean {
    return this.#closed;
  }

  idleFor(now: number): number {
    const streaming = this.#getStream !== undefined && !this.#getStream.closed;
    return this.#exchanges.size > 0 || streaming ? 0 : now - this.#lastActive;
  }

  async post(
    parsed: ParsedMessage,
    filter: ResponseFilter | undefined,
    context: ExchangeContext,
  ): Promise<Answer> {
    if (this.#closed) throw new RequestError('McpSessionNotFound', 'the session has ended');
    this.#lastActive = Date.now();
    const { message } = parsed;
    if (message.kind === 'response') return this.#answer(message.id, message.result, message.error);
    if (message.kind === 'notification') {
      if (message.method === 'notifications/cancelled') this.#cancel(message.params?.requestId);
      return acceptedAnswer();
    }
    if (message.method === 'initialize')
      return this.#initialize(message.id, message.params, filter, context);
    if (!this.#initialized) {
      throw new RequestError('RequestMalformed', 'the session is not initialized');
    }
    if (message.method === 'ping') {
      return jsonAnswer(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: {} }));
    }
    const exchange: Exchange = {
      clientId: message.id,
      method: message.method,
      params: message.params ?? {},
      stream: new PushStream({ onCancel: () => exchange.abort.abort() }),
      filter,
      abort: new AbortController(),
      waiting: new Map(),
      answers: {},
      requestState: undefined,
      resolveAnswers: undefined,
    };
    const stopWatching = whenClientGone(context, () => exchange.abort.abort());
    this.#exchanges.set(idKey(message.id), exchange);
    const wantsSse = accepts(context.headers.accept, 'text/event-stream');
    const done = this.#run(exchange, context).finally(() => {
      stopWatching();
      this.#exchanges.delete(idKey(exchange.clientId));
      this.#lastActive = Date.now();
    });
    if (wantsSse) {
      void done;
      return new Response(exchange.stream.stream, { status: 200, headers: sseHeaders() });
    }
    // A client that takes only JSON gets the final answer; input requests go on its GET stream.
    const text = await new Response(exchange.stream.stream).text();
    const last = text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .at(-1);
    return jsonAnswer(last === undefined ? '' : last.slice(6));
  }

  async get(_context: ExchangeContext): Promise<Response> {
    if (this.#closed) throw new RequestError('McpSessionNotFound', 'the session has ended');
    this.#getStream?.close();
    this.#listen?.abort();
    const listen = new AbortController();
    const stream = new PushStream({ onCancel: () => listen.abort() });
    this.#getStream = stream;
    this.#listen = listen;
    void this.#runListen(stream, listen).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'subscriptions/listen for a 2025 GET stream failed');
      stream.close();
    });
    return new Response(stream.stream, { status: 200, headers: sseHeaders() });
  }

  async delete(_context: ExchangeContext): Promise<Answer> {
    await this.close('ended by the client');
    return new BoundedAnswer(200, {}, undefined);
  }

  async close(_reason: string): Promise<void> {
    this.#closed = true;
    this.#listen?.abort();
    this.#getStream?.close();
    for (const exchange of this.#exchanges.values()) exchange.abort.abort();
  }

  /** initialize answered by the gateway from the upstream's server/discover. */
  async #initialize(
    id: JsonRpcId,
    params: Readonly<Record<string, unknown>> | undefined,
    filter: ResponseFilter | undefined,
    context: ExchangeContext,
  ): Promise<Answer> {
    if (this.#initialized)
      throw new RequestError('RequestMalformed', 'this session is already initialized');
    this.#clientCapabilities = isRecord(params?.capabilities) ? params.capabilities : {};
    this.#clientInfo = isRecord(params?.clientInfo) ? params.clientInfo : undefined;
    const discover = await this.#call('server/discover', {}, clientSignalOf(context));
    const message = await new MessageReader(discover).next();
    if (message === undefined || !isRecord(message.result)) {
      this.#closed = true;
      throw new RequestError('UpstreamFailed', 'the upstream did not answer server/discover');
    }
    const result = initializeFromDiscover(
      message.result,
      params?.protocolVersion,
      LEGACY_PROTOCOL_VERSIONS,
    );
    this.#initialized = true;
    const response = { jsonrpc: '2.0', id, result };
    const text = filter === undefined ? JSON.stringify(response) : filter(response);
    return jsonAnswer(text, 200, { [SESSION_HEADER]: this.id });
  }

  /** Runs one exchange (and its retries) until its final answer is on the client's stream. */
  async #run(exchange: Exchange, context: ExchangeContext): Promise<void> {
    try {
      for (;;) {
        const params: Record<string, unknown> = { ...exchange.params };
        if (Object.keys(exchange.answers).length > 0) params.inputResponses = exchange.answers;
        if (exchange.requestState !== undefined) params.requestState = exchange.requestState;
        const reader = new MessageReader(
          await this.#call(exchange.method, params, exchange.abort.signal),
        );
        const final = await this.#relayUntilFinal(exchange, reader);
        if (final === undefined) {
          this.#finish(
            exchange,
            errorResponse(exchange.clientId, -32000, 'the upstream ended before answering'),
          );
          return;
        }
        const result = final.result;
        if (isRecord(result) && result.resultType === 'input_required') {
          if (!(await this.#askClient(exchange, result, context))) return;
          continue;
        }
        this.#deliver(exchange, final);
        return;
      }
    } catch (error) {
      if (exchange.abort.signal.aborted) {
        exchange.stream.close();
        return;
      }
      this.#logger.warn({ err: error, requestId: context.requestId }, 'bridged request failed');
      const text =
        error instanceof RequestError
          ? errorResponse(exchange.clientId, -32000, error.message)
          : errorResponse(exchange.clientId, -32603, 'the bridge failed');
      this.#finish(exchange, text);
    }
  }

  /** The final answer in its 2025 shape (rewritten by the exchange's filter, if any). */
  #deliver(exchange: Exchange, final: Readonly<Record<string, unknown>>): void {
    const result = final.result;
    if (!isRecord(result)) {
      const error = { jsonrpc: '2.0', id: exchange.clientId, error: final.error };
      this.#finish(exchange, JSON.stringify(error));
      return;
    }
    if (exchange.method === 'tools/list') this.#paramHeaders.learn(result);
    const legacy = { jsonrpc: '2.0', id: exchange.clientId, result: toLegacyResult(result) };
    this.#finish(
      exchange,
      exchange.filter === undefined ? JSON.stringify(legacy) : exchange.filter(legacy),
    );
  }

  /** Relays the request's notifications; returns its response (or undefined if none came). */
  async #relayUntilFinal(exchange: Exchange, reader: MessageReader) {
    for (let message = await reader.next(); message !== undefined; message = await reader.next()) {
      if (typeof message.method === 'string') {
        if (!Object.hasOwn(message, 'id')) exchange.stream.write(event(JSON.stringify(message)));
        continue;
      }
      return message;
    }
    return undefined;
  }

  /**
   * Sends the InputRequiredResult's questions to the client as 2025 server-to-client requests.
   * Resolves true once every answer is in (then the request is retried), false when the
   * exchange ended meanwhile.
   */
  async #askClient(
    exchange: Exchange,
    result: Readonly<Record<string, unknown>>,
    context: ExchangeContext,
  ): Promise<boolean> {
    exchange.requestState =
      typeof result.requestState === 'string' ? result.requestState : undefined;
    const requests = isRecord(result.inputRequests) ? result.inputRequests : {};
    const entries = Object.entries(requests).filter(([, value]) => isRecord(value));
    if (entries.length === 0) return true;
    const answered = new Promise<void>((resolve) => {
      exchange.resolveAnswers = resolve;
    });
    for (const [key, value] of entries) {
      const input = value as Readonly<Record<string, unknown>>;
      this.#counter += 1;
      const serverId = `portcullis-input-${this.#counter}`;
      exchange.waiting.set(serverId, key);
      this.#inputs.set(serverId, exchange);
      const params = isRecord(input.params) ? { ...input.params } : {};
      if (input.method === 'elicitation/create' && params.mode === 'url') {
        params.elicitationId = serverId;
      }
      const text = JSON.stringify({ jsonrpc: '2.0', id: serverId, method: input.method, params });
      // On the request's own stream (2025-11-25 transports: requests related to the client's
      // request); a JSON-only client gets them on its GET stream.
      const sent = accepts(context.headers.accept, 'text/event-stream')
        ? exchange.stream.write(event(text))
        : (this.#getStream?.write(event(text)) ?? false);
      if (!sent) throw new RequestError('UpstreamFailed', 'no stream to ask the client on');
    }
    const aborted = new Promise<false>((resolve) =>
      exchange.abort.signal.addEventListener('abort', () => resolve(false), { once: true }),
    );
    return Promise.race([answered.then(() => true), aborted]);
  }

  /** A client's answer to a server-to-client request the gateway sent. */
  #answer(id: JsonRpcId | null, result: unknown, error: unknown): Answer {
    const serverId = typeof id === 'string' ? id : undefined;
    const exchange = serverId === undefined ? undefined : this.#inputs.get(serverId);
    if (serverId === undefined || exchange === undefined) return acceptedAnswer();
    this.#inputs.delete(serverId);
    const key = exchange.waiting.get(serverId);
    exchange.waiting.delete(serverId);
    if (key === undefined) return acceptedAnswer();
    if (error !== undefined || !isRecord(result)) {
      exchange.abort.abort();
      this.#finish(
        exchange,
        errorResponse(exchange.clientId, -32603, 'the client refused the server request'),
      );
      return acceptedAnswer();
    }
    exchange.answers[key] = result;
    if (exchange.waiting.size === 0) exchange.resolveAnswers?.();
    return acceptedAnswer();
  }

  #cancel(requestId: unknown): void {
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    // Closing the modern request's stream is the 2026-07-28 cancellation.
    this.#exchanges.get(idKey(requestId))?.abort.abort();
  }

  #finish(exchange: Exchange, text: string): void {
    for (const serverId of exchange.waiting.keys()) this.#inputs.delete(serverId);
    exchange.stream.write(event(text));
    exchange.stream.close();
  }

  /** One stateless request upstream, with the envelope built from this session's initialize. */
  async #call(
    method: string,
    params: Readonly<Record<string, unknown>>,
    signal: AbortSignal,
  ): Promise<Answer> {
    this.#counter += 1;
    const id = `portcullis-${this.#counter}`;
    const meta = isRecord(params._meta) ? params._meta : {};
    const fullParams = {
      ...params,
      _meta: {
        ...meta,
        [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
        [META.clientCapabilities]: this.#clientCapabilities,
        ...(this.#clientInfo === undefined ? {} : { [META.clientInfo]: this.#clientInfo }),
      },
    };
    const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
    const nameValue = field === undefined ? undefined : params[field];
    const request: ModernRequest = {
      id,
      method,
      params: fullParams,
      protocolVersion: MODERN_PROTOCOL_VERSION,
      name: typeof nameValue === 'string' ? nameValue : undefined,
      clientCapabilities: this.#clientCapabilities,
      clientInfo: this.#clientInfo,
      paramHeaders: method === 'tools/call' ? this.#paramHeaders.headersFor(params) : {},
    };
    return this.#forwarder.forward({
      request,
      text: JSON.stringify({ jsonrpc: '2.0', id, method, params: fullParams }),
      signal,
    });
  }

  async #runListen(stream: PushStream, listen: AbortController): Promise<void> {
    const response = await this.#call(
      'subscriptions/listen',
      { notifications: LISTEN_ALL },
      listen.signal,
    );
    const reader = new MessageReader(response);
    listen.signal.addEventListener('abort', () => reader.cancel(), { once: true });
    for (let message = await reader.next(); message !== undefined; message = await reader.next()) {
      if (typeof message.method !== 'string' || Object.hasOwn(message, 'id')) continue;
      if (message.method === 'notifications/subscriptions/acknowledged') continue;
      const params = isRecord(message.params) ? { ...message.params } : undefined;
      if (params !== undefined && isRecord(params._meta)) {
        const { [META.subscriptionId]: _id, ...rest } = params._meta;
        if (Object.keys(rest).length === 0) delete params._meta;
        else params._meta = rest;
      }
      const out =
        params === undefined
          ? { jsonrpc: '2.0', method: message.method }
          : { jsonrpc: '2.0', method: message.method, params };
      if (!stream.write(event(JSON.stringify(out)))) break;
    }
    stream.close();
  }
}

function event(text: string): string {
  return encodeSseEvent({ event: 'message', data: text });
}
