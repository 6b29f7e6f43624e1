import { Readable } from 'node:stream';
import { type Dispatcher, Pool, errors as undiciErrors } from 'undici';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import { type ParsedMessage, type ResponseFilter, ResponseTracker } from '../../mcp/index.ts';
import type { Principal } from '../auth-stage.ts';
import { type Answer, BoundedAnswer, SESSION_HEADER, sseHeaders } from '../responses.ts';
import type { McpRoute } from '../routes.ts';
import type { ExchangeContext, UpstreamConnector, UpstreamSession } from '../sessions.ts';
import { encodeSseEvent, parseSseEvent, SseSplitter } from '../sse.ts';
import { traceContextOf } from '../trace-context.ts';
import {
  reauthorizeAnswer,
  staticHeadersOf,
  type UpstreamCredentialSource,
  upstreamCredentialHeaders,
} from '../upstream-credentials.ts';
import { tcpReachable } from './probe.ts';

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
/** Largest upstream answer of declared length that is read whole rather than streamed. */
const BUFFERED_BODY_MAX = 256 * 1024;
/** The upstream's session id: visible ASCII (MCP transports, "Session Management"). */
const UPSTREAM_SESSION_ID = /^[\x21-\x7E]{1,256}$/;

/**
 * An upstream answer: status and headers, and either the body read whole (a small answer of
 * declared length, when the caller allowed it) or the body still to read.
 */
export type UpstreamAnswer = {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
} & (
  | { readonly whole: Buffer; readonly body?: undefined }
  | { readonly whole?: undefined; readonly body: Readable }
);

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

  open(id: string, principal: Principal): UpstreamSession {
    return new HttpSession(id, principal.subject, this);
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
   * the whole body has arrived (BUFFERED_BODY_MAX).
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

function ignoreStreamError(): void {}

/**
 * Cancels one upstream request: made per request instead of an AbortController (cheaper, and no
 * DOMException unless a request is actually cancelled). The exchange under way, if any, listens.
 */
class Cancel {
  cancelled = false;
  /** Stops the exchange under way; set by it while it runs. */
  onCancel: (() => void) | undefined;

  abort(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.onCancel?.();
  }
}

/** Why undici stopped a request the gateway cancelled. */
const CANCELLED = 'the gateway cancelled the upstream request';

/**
 * One upstream request as undici's dispatch handler (undici Dispatcher.DispatchHandler). It
 * settles `answer` at the response head with a stream of the body, or — for a small answer of
 * declared length, when `whole` — once the body is complete, with the body in one buffer. A
 * failure before `answer` settles rejects it; one after errors the body stream.
 */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly answer: Promise<UpstreamAnswer>;
  readonly #cancel: Cancel;
  readonly #whole: boolean;
  #resolve!: (answer: UpstreamAnswer) => void;
  #reject!: (error: unknown) => void;
  #settled = false;
  #statusCode = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  /** The body so far, when read whole. */
  #chunks: Buffer[] | undefined;
  /** The body, when streamed. */
  #body: Readable | undefined;
  #ended = false;

  /** True once the upstream's answer has begun (its head arrived). */
  get answering(): boolean {
    return this.#statusCode !== 0;
  }

  constructor(cancel: Cancel, whole: boolean) {
    this.#cancel = cancel;
    this.#whole = whole;
    this.answer = new Promise<UpstreamAnswer>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#cancel.cancelled) {
      controller.abort(new undiciErrors.RequestAbortedError(CANCELLED));
      return;
    }
    this.#cancel.onCancel = () => controller.abort(new undiciErrors.RequestAbortedError(CANCELLED));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // Interim (1xx) answers are not the answer.
    if (statusCode < 200) return;
    this.#statusCode = statusCode;
    this.#headers = headers;
    const type = headers['content-type'];
    const declared = Number(headers['content-length']);
    if (
      this.#whole &&
      !(typeof type === 'string' && type.toLowerCase().startsWith('text/event-stream')) &&
      Number.isSafeInteger(declared) &&
      declared <= BUFFERED_BODY_MAX
    ) {
      this.#chunks = [];
      return;
    }
    const body = new Readable({
      read: () => controller.resume(),
      destroy: (error, callback) => {
        // A body dropped before its end stops the request (and frees its connection).
        if (!this.#ended) controller.abort(error ?? new undiciErrors.RequestAbortedError());
        callback(error);
      },
    });
    // A body cut short (the client left, the session closed) errors the stream; whoever reads
    // it sees that through its reader, so the event itself must not become an uncaught error.
    body.on('error', ignoreStreamError);
    this.#body = body;
    this.#settle({ statusCode, headers, body });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#chunks !== undefined) {
      this.#chunks.push(chunk);
      return;
    }
    if (this.#body !== undefined && !this.#body.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#cancel.onCancel = undefined;
    if (this.#chunks !== undefined) {
      const whole = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
      this.#settle({
        statusCode: this.#statusCode,
        headers: this.#headers,
        whole: whole ?? Buffer.alloc(0),
      });
      return;
    }
    this.#body?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#ended = true;
    this.#cancel.onCancel = undefined;
    if (!this.#settled) {
      this.#settled = true;
      this.#reject(error);
      return;
    }
    this.#body?.destroy(error);
  }

  #settle(answer: UpstreamAnswer): void {
    this.#settled = true;
    this.#resolve(answer);
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

  constructor(id: string, subject: string, connector: HttpConnector) {
    this.id = id;
    this.subject = subject;
    this.route = connector.route;
    this.#connector = connector;
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
      if (response.status >= 200 && response.status < 300) this.#initialized = true;
      else this.#closed = true;
    }
    return response;
  }

  async get(context: ExchangeContext): Promise<Answer> {
    return this.#exchange('GET', context, undefined, false, { filterJson: false });
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
    options: { filterJson: boolean },
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
    return this.#relay(upstream, isInitialize, options.filterJson, done);
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
    filterJson: boolean,
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
      return new Response(source.pipeThrough(this.#sseFilter()), { status, headers });
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

  /** Passes SSE events through unchanged, except answers the gateway rewrites. */
  #sseFilter(): TransformStream<Uint8Array, Uint8Array> {
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    const splitter = new SseSplitter();
    const convert = (block: string): string => {
      if (this.#filters.size === 0) return block;
      const event = parseSseEvent(block);
      if (event.data === undefined || (event.event ?? 'message') !== 'message') return block;
      const filtered = this.#filterMessage(event.data);
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
