import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import {
  filterInitializeResponse,
  filterToolsListResponse,
  isRecord,
  type ParsedMessage,
  type ResponseFilter,
  ResponseTracker,
} from '../../mcp/index.ts';
import type { Principal } from '../auth-stage.ts';
import { type Answer, BoundedAnswer, SESSION_HEADER, sseHeaders } from '../responses.ts';
import type { McpRoute } from '../routes.ts';
import type {
  ExchangeContext,
  SessionHooks,
  SharedSessionRecord,
  UpstreamConnector,
  UpstreamSession,
} from '../sessions.ts';
import { encodeSseEvent, parseSseEvent, SseSplitter } from '../sse.ts';
import { traceContextOf } from '../trace-context.ts';
import {
  reauthorizeAnswer,
  staticHeadersOf,
  type UpstreamCredentialSource,
  upstreamCredentialHeaders,
} from '../upstream-credentials.ts';
import { tcpReachable } from './probe.ts';
import { Cancel, type UpstreamAnswer, UpstreamExchange } from './upstream-exchange.ts';

/**
 * A Streamable HTTP upstream. Requests pass through: the authorized body text is sent as is,
 * responses (JSON or SSE) stream back without buffering, GET streams and DELETE pass through,
 * Last-Event-ID goes along for resumption. What crosses is rebuilt from allow-lists in both
 * directions: the client's credentials (Authorization, Cookie, DPoP, …) never reach the
 * upstream, which gets only the headers from the config; the upstream's Set-Cookie and
 * WWW-Authenticate never reach the client, and an upstream 401 becomes a 502 and a log line.
 */

/** Client headers passed to the upstream, besides the ones the gateway sets itself. */
const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'mcp-protocol-version'];
/** Upstream response headers passed to the client. */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'retry-after'];
/** How long the upstream has to start answering. */
const RESPONSE_HEADERS_TIMEOUT_MS = 300_000;
/** Largest tools/list answer the gateway buffers to filter. */
const MAX_FILTERED_BYTES = 8 * 1024 * 1024;
/** Answers to rewrite, remembered per session while outstanding. */
const MAX_TRACKED_FILTERS = 256;
/** The upstream's session id: visible ASCII (MCP transports, "Session Management"). */
const UPSTREAM_SESSION_ID = /^[\x21-\x7E]{1,256}$/;

export class HttpConnector implements UpstreamConnector {
  readonly route: McpRoute;
  readonly #url: URL;
  /** The request target on the upstream: its URL's path and query. */
  readonly #path: string;
  readonly #pool: Pool;
  /** GET streams live as long as their session: their own pool, so they never starve calls. */
  readonly #streams: Pool;
  readonly #logger: Logger;
  readonly #credentials: UpstreamCredentialSource | undefined;
  /** The static headers (upstreams[].headers or static credentials), names lower-cased once. */
  readonly #configuredHeaders: readonly (readonly [string, string])[];
  /** Whether the upstream's credentials are the calling person's own (looked up per request). */
  readonly #perPerson: boolean;

  constructor(route: McpRoute, logger: Logger, credentials?: UpstreamCredentialSource) {
    this.route = route;
    this.#credentials = credentials;
    this.#url = new URL(route.upstream.url ?? '');
    this.#path = `${this.#url.pathname}${this.#url.search}`;
    // undici's pool: keep-alive connections reused under load, no redirects followed, and a
    // leaner client than node:http (measured: the upstream request was the largest gateway cost).
    this.#pool = new Pool(this.#url.origin, {
      connections: 256,
      pipelining: 1,
      headersTimeout: RESPONSE_HEADERS_TIMEOUT_MS,
      // SSE streams may stay open for as long as the session lives.
      bodyTimeout: 0,
    });
    // Bounded by the upstream's session cap (one GET stream per session), not by a pool size:
    // with one shared pool, 250 held streams left 6 connections and blocked tools/call
    // (measured by bench/sessions.ts).
    this.#streams = new Pool(this.#url.origin, {
      pipelining: 1,
      headersTimeout: RESPONSE_HEADERS_TIMEOUT_MS,
      bodyTimeout: 0,
    });
    this.#logger = logger.child({ upstream: route.name });
    this.#configuredHeaders = Object.entries(staticHeadersOf(route.upstream)).map(
      ([name, value]) => [name.toLowerCase(), value] as const,
    );
    const kind = route.upstream.credentials?.type;
    this.#perPerson = kind !== undefined && kind !== 'static';
  }

  open(id: string, principal: Principal, hooks?: SessionHooks): UpstreamSession {
    return new HttpSession(id, principal.subject, this, hooks);
  }

  /** A session another replica opened: the upstream keeps its state, so any replica forwards. */
  resume(record: SharedSessionRecord): UpstreamSession {
    const session = new HttpSession(record.id, record.subject, this, undefined);
    session.resumeFrom(record.upstreamSessionId);
    return session;
  }

  async close(): Promise<void> {
    await Promise.all([this.#pool.destroy(), this.#streams.destroy()]);
  }

  /** Readiness: the upstream's host accepts a TCP connection. */
  async probe(): Promise<{ ok: boolean; detail: string }> {
    const port = Number(this.#url.port) || (this.#url.protocol === 'https:' ? 443 : 80);
    const host = this.#url.hostname.replace(/^\[|\]$/g, '');
    return (await tcpReachable(host, port))
      ? { ok: true, detail: 'reachable' }
      : { ok: false, detail: 'unreachable' };
  }

  get logger(): Logger {
    return this.#logger;
  }

  /**
   * Sends one request upstream. Resolves with the response head and the body unread, or, when
   * `whole` is set and the answer is small, of declared length and not an event stream, once
   * the whole body has arrived (upstream-exchange.ts).
   */
  async request(options: {
    method: 'POST' | 'GET' | 'DELETE';
    headers: Record<string, string>;
    body?: string;
    signal: Cancel;
    /** Whose request it is: per-person upstream credentials are looked up by it. */
    subject?: string;
    /** Read a small answer of declared length whole rather than as a stream. */
    whole?: boolean;
  }): Promise<UpstreamAnswer> {
    // The caller builds `headers` for this request alone: the gateway's own credentials (static
    // or the person's) are added to it in place, last, so they win; when the person's cannot be
    // had, this throws and nothing is sent.
    const headers = options.headers;
    if (this.#perPerson) {
      Object.assign(
        headers,
        await upstreamCredentialHeaders(this.route.upstream, options.subject, this.#credentials),
      );
    } else {
      for (const [name, value] of this.#configuredHeaders) headers[name] = value;
    }
    // undici's dispatch with a handler of our own rather than pool.request: no async resource,
    // callback and stream per request, and a small answer is read straight into one buffer
    // (measured: the request API's layers were the largest gateway cost left).
    const exchange = new UpstreamExchange(options.signal, options.whole === true);
    try {
      // A cancel reaches only what is under way; one that already happened stops it here.
      if (options.signal.cancelled) throw new Error('cancelled before it was sent');
      const pool = options.method === 'GET' ? this.#streams : this.#pool;
      pool.dispatch(
        {
          path: this.#path,
          method: options.method,
          headers,
          ...(options.body === undefined ? {} : { body: options.body }),
        },
        exchange,
      );
      return await exchange.answer;
    } catch (error) {
      if (error instanceof undiciErrors.HeadersTimeoutError) {
        throw new RequestError('UpstreamFailed', 'the upstream did not answer in time', {
          cause: error,
        });
      }
      if (options.signal.cancelled) {
        throw new RequestError('UpstreamFailed', 'the client went away', { cause: error });
      }
      if (exchange.answering) {
        throw new RequestError('UpstreamFailed', 'the upstream answer was cut short', {
          cause: error,
        });
      }
      throw new RequestError('UpstreamUnavailable', 'the upstream cannot be reached', {
        cause: error,
      });
    }
  }
}

class HttpSession implements UpstreamSession {
  readonly id: string;
  readonly subject: string;
  readonly route: McpRoute;
  readonly #connector: HttpConnector;
  #upstreamSessionId: string | undefined;
  /**
   * Requests whose answers are rewritten (tools/list, initialize), by id. Kept per session, not
   * per stream, because an answer may come back on a resumed (GET) stream.
   */
  readonly #filters = new ResponseTracker<ResponseFilter>({ maxTracked: MAX_TRACKED_FILTERS });
  readonly #inFlight = new Set<Cancel>();
  #lastActive = Date.now();
  #closed = false;
  #initialized = false;
  readonly #hooks: SessionHooks | undefined;
  /** Other replicas serve this session too (its record is in the shared store). */
  #shared: boolean;

  constructor(
    id: string,
    subject: string,
    connector: HttpConnector,
    hooks: SessionHooks | undefined,
  ) {
    this.id = id;
    this.subject = subject;
    this.route = connector.route;
    this.#connector = connector;
    this.#hooks = hooks;
    this.#shared = hooks !== undefined;
  }

  /** Takes over a session initialized through another replica. */
  resumeFrom(upstreamSessionId: string | undefined): void {
    if (upstreamSessionId !== undefined && UPSTREAM_SESSION_ID.test(upstreamSessionId)) {
      this.#upstreamSessionId = upstreamSessionId;
    }
    this.#initialized = true;
    this.#shared = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  idleFor(now: number): number {
    return this.#inFlight.size > 0 ? 0 : now - this.#lastActive;
  }

  async post(
    parsed: ParsedMessage,
    filter: ResponseFilter | undefined,
    context: ExchangeContext,
  ): Promise<Answer> {
    const { message } = parsed;
    const isInitialize = message.kind === 'request' && message.method === 'initialize';
    if (isInitialize && this.#initialized) {
      throw new RequestError('RequestMalformed', 'this session is already initialized');
    }
    if (message.kind === 'request' && filter !== undefined) this.#filters.track(message.id, filter);
    let response: Answer;
    try {
      response = await this.#exchange('POST', context, parsed.text, isInitialize, {
        filterJson: filter !== undefined,
      });
    } catch (error) {
      const answer = reauthorizeAnswer(error, message);
      if (answer === undefined) throw error;
      return answer;
    }
    if (isInitialize) {
      if (response.status >= 200 && response.status < 300) {
        this.#initialized = true;
        await this.#established(response);
      } else this.#closed = true;
    }
    return response;
  }

  /** Shares the session (hooks.established) before the client learns its id; else fails it. */
  async #established(response: Answer): Promise<void> {
    if (this.#hooks === undefined) return;
    try {
      await this.#hooks.established(this.#upstreamSessionId);
    } catch (error) {
      this.#closed = true;
      if (response instanceof Response) await response.body?.cancel().catch(() => {});
      throw error;
    }
  }

  async get(context: ExchangeContext): Promise<Answer> {
    // A resumed stream (Last-Event-ID) may replay answers to requests (streamable-http,
    // "Resumability and Redelivery"); when other replicas serve the session, requests posted
    // through them were never tracked here, so their answers are rewritten by their shape.
    const replay =
      this.#shared && context.headers['last-event-id'] !== undefined
        ? untrackedAnswerFilter(this.route, context.principal)
        : undefined;
    return this.#exchange('GET', context, undefined, false, {
      filterJson: false,
      ...(replay === undefined ? {} : { replay }),
    });
  }

  async delete(context: ExchangeContext): Promise<Answer> {
    if (this.#upstreamSessionId === undefined) {
      this.#closed = true;
      return new BoundedAnswer(200, {}, undefined);
    }
    try {
      return await this.#exchange('DELETE', context, undefined, false, { filterJson: false });
    } finally {
      this.#closed = true;
    }
  }

  async close(_reason: string): Promise<void> {
    this.#closed = true;
    for (const cancel of this.#inFlight) cancel.abort();
  }

  async #exchange(
    method: 'POST' | 'GET' | 'DELETE',
    context: ExchangeContext,
    body: string | undefined,
    isInitialize: boolean,
    options: { filterJson: boolean; replay?: ReplayFilter },
  ): Promise<Answer> {
    if (this.#closed) throw new RequestError('McpSessionNotFound', 'the session has ended');
    this.#lastActive = Date.now();
    const cancel = new Cancel();
    const stopWatching = context.onClientGone(() => cancel.abort());
    this.#inFlight.add(cancel);
    const done = () => {
      this.#inFlight.delete(cancel);
      stopWatching();
      this.#lastActive = Date.now();
    };
    let upstream: UpstreamAnswer;
    try {
      upstream = await this.#connector.request({
        method,
        subject: this.subject,
        headers: this.#requestHeaders(method, context),
        ...(body === undefined ? {} : { body }),
        signal: cancel,
        // An answer the gateway rewrites is read by the filter below, whatever its size.
        whole: !options.filterJson,
      });
    } catch (error) {
      done();
      throw error;
    }
    try {
      this.#checkStatus(upstream, isInitialize, context);
    } catch (error) {
      upstream.body?.destroy();
      done();
      throw error;
    }
    if (isInitialize) {
      const upstreamId = upstream.headers[SESSION_HEADER];
      if (typeof upstreamId === 'string' && UPSTREAM_SESSION_ID.test(upstreamId)) {
        this.#upstreamSessionId = upstreamId;
      }
    }
    return this.#relay(upstream, isInitialize, options, done);
  }

  #requestHeaders(method: string, context: ExchangeContext): Record<string, string> {
    const headers: Record<string, string> = {};
    const names =
      method === 'GET'
        ? [...FORWARDED_REQUEST_HEADERS, 'last-event-id']
        : FORWARDED_REQUEST_HEADERS;
    for (const name of names) {
      const value = context.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    if (method !== 'POST') delete headers['content-type'];
    if (this.#upstreamSessionId !== undefined) headers[SESSION_HEADER] = this.#upstreamSessionId;
    const trace = traceContextOf(context.headers);
    if (trace !== undefined) {
      headers.traceparent = trace.traceparent;
      if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
    }
    return headers;
  }

  /** Upstream statuses the client must not see as such. */
  #checkStatus(upstream: UpstreamAnswer, isInitialize: boolean, context: ExchangeContext): void {
    const status = upstream.statusCode;
    const logger = this.#connector.logger;
    if (status === 401 || status === 407 || upstream.headers['www-authenticate'] !== undefined) {
      // Relaying the upstream's challenge would send the client to authorize against the
      // upstream; the gateway's own upstream credentials are what failed.
      logger.error(
        { status, requestId: context.requestId },
        'upstream refused the gateway (authentication challenge); check upstreams[].headers',
      );
      throw new RequestError('UpstreamFailed', 'the upstream refused the gateway');
    }
    if (status >= 300 && status < 400) {
      logger.error({ status, requestId: context.requestId }, 'upstream answered with a redirect');
      throw new RequestError('UpstreamFailed', 'the upstream answered with a redirect');
    }
    if (status >= 500) {
      logger.warn({ status, requestId: context.requestId }, 'upstream failed');
      throw new RequestError('UpstreamFailed', `the upstream failed (status ${status})`);
    }
    if (status === 404 && !isInitialize && this.#upstreamSessionId !== undefined) {
      // MCP transports: 404 means the upstream ended the session; the client starts anew.
      this.#closed = true;
      throw new RequestError('McpSessionNotFound', 'the upstream ended the session');
    }
  }

  #relay(
    upstream: UpstreamAnswer,
    isInitialize: boolean,
    { filterJson, replay }: { filterJson: boolean; replay?: ReplayFilter },
    done: () => void,
  ): Answer {
    if (upstream.whole !== undefined) {
      done();
      return this.#bounded(upstream.statusCode, upstream.headers, upstream.whole, isInitialize);
    }
    const status = upstream.statusCode;
    const contentType = String(upstream.headers['content-type'] ?? '').toLowerCase();
    const isSse = contentType.startsWith('text/event-stream');
    const headers = isSse ? sseHeaders() : new Headers();
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstream.headers[name];
      if (typeof value === 'string' && !(isSse && name === 'cache-control')) {
        headers.set(name, value);
      }
    }
    if (isInitialize && status >= 200 && status < 300) headers.set(SESSION_HEADER, this.id);
    upstream.body.once('close', done);
    // 204 and 304 have no body; a Response with one would throw.
    if (status === 204 || status === 304 || upstream.headers['content-length'] === '0') {
      upstream.body.resume();
      return new Response(null, { status, headers });
    }
    const source = Readable.toWeb(upstream.body) as ReadableStream<Uint8Array>;
    if (isSse) {
      return new Response(source.pipeThrough(this.#sseFilter(replay)), { status, headers });
    }
    if (contentType.startsWith('application/json') && filterJson) {
      return new Response(this.#filterJson(source), { status, headers });
    }
    return new Response(source, { status, headers });
  }

  /**
   * A small answer of known length, read whole by the exchange and handed on as a bounded
   * answer: the front writes it in one write with its length, with no Web Response or stream
   * in between.
   */
  #bounded(
    status: number,
    upstreamHeaders: UpstreamAnswer['headers'],
    body: Buffer,
    isInitialize: boolean,
  ): BoundedAnswer {
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstreamHeaders[name];
      if (typeof value === 'string') headers[name] = value;
    }
    if (isInitialize && status >= 200 && status < 300) headers[SESSION_HEADER] = this.id;
    if (status === 204 || status === 304 || body.byteLength === 0) {
      return new BoundedAnswer(status, headers, undefined);
    }
    return new BoundedAnswer(status, headers, body);
  }

  /**
   * Passes SSE events through unchanged, except answers the gateway rewrites: tracked ones, and
   * with `replay` the untracked answers of a resumed stream.
   */
  #sseFilter(replay?: ReplayFilter): TransformStream<Uint8Array, Uint8Array> {
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    const splitter = new SseSplitter();
    const convert = (block: string): string => {
      if (this.#filters.size === 0 && replay === undefined) return block;
      const event = parseSseEvent(block);
      if (event.data === undefined || (event.event ?? 'message') !== 'message') return block;
      const filtered = this.#filterMessage(event.data) ?? replay?.(event.data);
      return filtered === undefined ? block : encodeSseEvent({ ...event, data: filtered });
    };
    return new TransformStream({
      transform(chunk, controller) {
        const blocks = splitter.push(decoder.decode(chunk, { stream: true }));
        if (blocks.length > 0) controller.enqueue(encoder.encode(blocks.map(convert).join('')));
      },
      flush(controller) {
        const rest = splitter.push(decoder.decode());
        if (rest.length > 0) controller.enqueue(encoder.encode(rest.map(convert).join('')));
      },
    });
  }

  /** Buffers a JSON answer (bounded) and rewrites it when it answers a tracked request. */
  #filterJson(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: async (controller) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        try {
          for await (const chunk of source) {
            size += chunk.byteLength;
            if (size > MAX_FILTERED_BYTES) throw new Error('tools/list answer too large');
            chunks.push(chunk);
          }
          const text = new TextDecoder().decode(Buffer.concat(chunks));
          const filtered = this.#filterMessage(text);
          controller.enqueue(new TextEncoder().encode(filtered ?? text));
          controller.close();
        } catch (error) {
          this.#connector.logger.warn({ err: error }, 'could not filter an upstream answer');
          controller.error(error);
        }
      },
    });
  }

  /** The rewritten text when `text` answers a tracked request; undefined to pass it as is. */
  #filterMessage(text: string): string | undefined {
    const answer = this.#filters.takeAnswerText(text);
    return answer === undefined ? undefined : answer.entry(answer.response);
  }
}

/** Rewrites the text of an answer no request was tracked for; undefined to pass it as is. */
type ReplayFilter = (text: string) => string | undefined;

/**
 * The rewrites responseFilterFor would have chosen, told from the answer's shape: a result with
 * a `tools` list is a tools/list answer (filtered for the caller's scopes), one with
 * `capabilities` and `protocolVersion` an initialize answer. Other answers pass.
 */
function untrackedAnswerFilter(route: McpRoute, principal: Principal): ReplayFilter {
  return (text) => {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (!isRecord(message) || 'method' in message || !isRecord(message.result)) return undefined;
    const result = message.result;
    if (Array.isArray(result.tools)) {
      return filterToolsListResponse(message, route.policy, principal.scopes);
    }
    if (isRecord(result.capabilities) && typeof result.protocolVersion === 'string') {
      return filterInitializeResponse(message, route.policy);
    }
    return undefined;
  };
}
