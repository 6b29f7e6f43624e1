import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import { errorResponse, isRecord, type JsonRpcId, type ResponseFilter } from '../../mcp/index.ts';
import { encodeHeaderValue } from '../../mcp/modern/header-value.ts';
import type { ModernRequest } from '../../mcp/modern/inbound.ts';
import { HEADERS } from '../../mcp/modern/protocol.ts';
import { type Answer, BoundedAnswer } from '../responses.ts';
import { encodeSseEvent, parseSseEvent, SseSplitter } from '../sse.ts';
import { whenClientGone } from './client-gone.ts';
import { type AnswerShape, UpstreamAnswer, type UpstreamHeaders } from './upstream-answer.ts';

/**
 * Forwards one validated 2026-07-28 request to a modern Streamable HTTP upstream, statelessly
 * (basic/transports/streamable-http): a POST with the standard headers rebuilt from the checked
 * body, `Mcp-Param-*` passed through (intermediaries MUST forward what they do not recognize),
 * no session id and no Last-Event-ID (the revision has neither), none of the client's
 * credentials. The answer is relayed per request — JSON, or an SSE stream that carries only
 * this request's notifications and its response — with `X-Accel-Buffering: no`; when the client
 * closes its stream the upstream request is aborted, which is the revision's cancellation.
 * A response the gateway rewrites (filtered lists, discover) is rewritten in place; an upstream
 * error answer (400 / -32022, 404 / -32601, …) is relayed as the upstream gave it.
 */

/** How long the upstream has to start answering. */
const RESPONSE_HEADERS_TIMEOUT_MS = 300_000;
/** Largest answer buffered to be rewritten. */
const MAX_FILTERED_BYTES = 8 * 1024 * 1024;
/** Largest upstream answer of declared length that is buffered rather than streamed. */
const BUFFERED_MAX = 256 * 1024;
/** Upstream response headers passed to the client. */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'retry-after'];
/** SSE response headers: no caching, no proxy buffering (streamable-http "Receiving Messages"). */
const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

export interface ModernForwardInput {
  readonly request: ModernRequest;
  /** The exact body text that was parsed and authorized. */
  readonly text: string;
  /** Rewrites the final response (a list filtered per caller, discover filtered by policy). */
  readonly filter?: ResponseFilter | undefined;
  /** Aborted when the client goes away: cancels the upstream request. */
  readonly signal?: AbortSignal | undefined;
  /**
   * The same, told as a listener registration (returns its undo): the gateway's own requests
   * pass this rather than a signal, so a request that completes costs no AbortController.
   */
  readonly onClientGone?: ((listener: () => void) => () => void) | undefined;
  /** W3C trace context to pass on. */
  readonly trace?: Readonly<Record<string, string>> | undefined;
  readonly requestId?: string | undefined;
}

export class ModernHttpForwarder {
  readonly #url: URL;
  /** The upstream's path and query, as sent on every request. */
  readonly #path: string;
  readonly #pool: Pool;
  /** upstreams[].headers, names lower-cased once: sent last, so they win. */
  readonly #configHeaders: readonly (readonly [string, string])[];
  readonly #logger: Logger;

  constructor(options: {
    url: string;
    headers: Readonly<Record<string, string>>;
    logger: Logger;
  }) {
    this.#url = new URL(options.url);
    this.#path = `${this.#url.pathname}${this.#url.search}`;
    this.#configHeaders = Object.entries(options.headers).map(
      ([name, value]) => [name.toLowerCase(), value] as const,
    );
    this.#logger = options.logger;
    this.#pool = new Pool(this.#url.origin, {
      connections: 256,
      pipelining: 1,
      headersTimeout: RESPONSE_HEADERS_TIMEOUT_MS,
      // A listen stream lives as long as the client keeps it.
      bodyTimeout: 0,
    });
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }

  /** The headers sent upstream: rebuilt from the validated request, config headers last. */
  headersFor(request: ModernRequest, trace?: Readonly<Record<string, string>>) {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      [HEADERS.protocolVersion]: request.protocolVersion,
      [HEADERS.method]: request.method,
    };
    if (request.name !== undefined) headers[HEADERS.name] = encodeHeaderValue(request.name);
    Object.assign(headers, request.paramHeaders);
    if (trace !== undefined) Object.assign(headers, trace);
    for (const [name, value] of this.#configHeaders) headers[name] = value;
    return headers;
  }

  forward(input: ModernForwardInput): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      let stopWatching = noop;
      const answer = new UpstreamAnswer({
        shapeOf: (status, headers) => this.#shapeOf(input, status, headers),
        failure: (error, cancelled) => upstreamError(error, cancelled),
        resolve,
        reject,
        done: () => stopWatching(),
      });
      stopWatching = whenClientGone(input, () => answer.cancel());
      this.#pool.dispatch(
        {
          path: this.#path,
          method: 'POST',
          headers: this.headersFor(input.request, input.trace),
          body: input.text,
        },
        answer,
      );
    });
  }

  /** What the upstream's answer becomes, decided on its status and headers. */
  #shapeOf(input: ModernForwardInput, status: number, upstream: UpstreamHeaders): AnswerShape {
    this.#refuseFailure(status, upstream, input.requestId);
    const { request } = input;
    const contentType = String(upstream['content-type'] ?? '').toLowerCase();
    const isSse = contentType.startsWith('text/event-stream');
    const headers: Record<string, string> = isSse ? { ...SSE_HEADERS } : {};
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstream[name];
      if (typeof value === 'string' && !(isSse && name === 'content-type')) headers[name] = value;
    }
    if (status === 202 || status === 204 || upstream['content-length'] === '0') {
      return { kind: 'empty', answer: new BoundedAnswer(status, headers, undefined) };
    }
    const filter = status >= 200 && status < 300 ? input.filter : undefined;
    if (isSse) {
      // The request's own stream: relayed as it comes, the final response rewritten in passing.
      return {
        kind: 'stream',
        finish: (body) => {
          const source = Readable.toWeb(body) as ReadableStream<Uint8Array>;
          return new Response(source.pipeThrough(sseRewriter(request.id, filter)), {
            status,
            headers,
          });
        },
      };
    }
    if (filter !== undefined) {
      // A rewritten answer is read whole anyway: it leaves as a bounded answer.
      return {
        kind: 'whole',
        maxBytes: MAX_FILTERED_BYTES,
        finish: (body) =>
          new BoundedAnswer(status, headers, rewrite(body.toString('utf8'), request.id, filter)),
        tooLarge: () => {
          this.#logger.warn(
            { limit: MAX_FILTERED_BYTES },
            'modern upstream answer too large to filter',
          );
          return new BoundedAnswer(
            status,
            headers,
            errorResponse(request.id, -32603, 'the upstream answer is too large to filter'),
          );
        },
      };
    }
    const declared = Number(upstream['content-length']);
    if (Number.isSafeInteger(declared) && declared <= BUFFERED_MAX) {
      // A small answer of known length is read whole and handed on as a bounded answer: the
      // front writes it in one write with its length, no Web Response or stream in between.
      return {
        kind: 'whole',
        // undici refuses a body longer than its Content-Length; this bound is the same, kept.
        maxBytes: declared,
        finish: (body) => new BoundedAnswer(status, headers, body),
        tooLarge: () =>
          new BoundedAnswer(
            502,
            { 'content-type': 'application/json' },
            errorResponse(request.id, -32603, 'the upstream answer outgrew its declared length'),
          ),
      };
    }
    return {
      kind: 'stream',
      finish: (body) =>
        new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, { status, headers }),
    };
  }

  /** Upstream statuses the client must not see as such: this throws (the answer is dropped). */
  #refuseFailure(status: number, headers: UpstreamHeaders, requestId: string | undefined): void {
    if (status === 401 || status === 407 || headers['www-authenticate'] !== undefined) {
      // The gateway's own upstream credentials failed; the client must not be sent to authorize
      // against the upstream.
      this.#logger.error(
        { status, requestId },
        'modern upstream refused the gateway (authentication challenge); check upstreams[].headers',
      );
      throw new RequestError('UpstreamFailed', 'the upstream refused the gateway');
    }
    if ((status >= 300 && status < 400) || status >= 500) {
      this.#logger.warn({ status, requestId }, 'modern upstream failed');
      throw new RequestError('UpstreamFailed', `the upstream failed (status ${status})`);
    }
  }
}

function noop(): void {}

function upstreamError(error: Error, clientGone: boolean): RequestError {
  if (error instanceof undiciErrors.HeadersTimeoutError) {
    return new RequestError('UpstreamFailed', 'the upstream did not answer in time', {
      cause: error,
    });
  }
  if (clientGone)
    return new RequestError('UpstreamFailed', 'the client went away', { cause: error });
  return new RequestError('UpstreamUnavailable', 'the upstream cannot be reached', {
    cause: error,
  });
}

/**
 * Applies `filter` to the response for `id`; anything else passes. A JSON-RPC error answer
 * passes unchanged (the client must see why its request failed); an answer that is not JSON
 * becomes a JSON-RPC internal error rather than a dropped connection.
 */
function rewrite(text: string, id: JsonRpcId, filter: ResponseFilter | undefined): string {
  if (filter === undefined) return text;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return errorResponse(id, -32603, 'the upstream sent an answer that is not JSON');
  }
  if (!isRecord(message) || Object.hasOwn(message, 'method') || message.id !== id) return text;
  if (!Object.hasOwn(message, 'result')) return text;
  return filter(message);
}

/** Passes SSE events through byte for byte except the final response, which is rewritten. */
function sseRewriter(
  id: JsonRpcId,
  filter: ResponseFilter | undefined,
): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const splitter = new SseSplitter();
  const convert = (block: string): string => {
    if (filter === undefined) return block;
    const event = parseSseEvent(block);
    if (event.data === undefined || (event.event ?? 'message') !== 'message') return block;
    const rewritten = rewrite(event.data, id, filter);
    return rewritten === event.data ? block : encodeSseEvent({ ...event, data: rewritten });
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
