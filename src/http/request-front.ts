import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressMatcher } from '../lib/address.ts';
import {
  type GatewayRequest,
  newRequestFacts,
  type RequestFacts,
  traceContextOf,
} from '../proxy/index.ts';
import { readBody } from './body.ts';
import { checkRawHeaders, clientAddressOf, requestIdFrom } from './front-checks.ts';

/**
 * The request front: one exchange from arrival to answer. It gives the request its id, checks
 * and collects the headers (counts, sizes, repeats), finds the client's address, reads the body
 * at most once within its cap, and tells the client's departure to whoever asks.
 */

export interface FrontLimits {
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly trusted: AddressMatcher;
}

/**
 * Also the gateway's view of the request (GatewayRequest): the router hands the exchange itself
 * to the gateway once it has set `path`, rather than a copy with closures per request.
 */
export class Exchange implements GatewayRequest {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The request method (Node's parser has checked it). */
  readonly method: string;
  /** The normalized path, set by the router (routing.ts) before the gateway sees it. */
  path = '';
  /** What the stages learn, for the request's one audit record and metrics observation. */
  readonly facts: RequestFacts = newRequestFacts();
  /** Headers the front adds to whatever answer: request id, CORS, Connection. */
  readonly extra: Record<string, string> = { 'x-request-id': randomUUID() };
  /** Lower-cased request headers, one value each; empty until accept() succeeded. */
  headers: Record<string, string> = {};
  clientAddress: string;
  /** A server-to-client stream that may be ended at shutdown rather than drained. */
  standaloneStream = false;
  /** Answered by the mounted authorization server, which writes its own access-log line. */
  mounted = false;
  readonly #expectsContinue: boolean;
  readonly #limits: FrontLimits;
  #bodyRead = false;
  /** Who to tell if the client leaves early; made only when someone asks. */
  #goneListeners: (() => void)[] | undefined;
  #gone = false;

  constructor(
    request: IncomingMessage,
    response: ServerResponse,
    expectsContinue: boolean,
    limits: FrontLimits,
  ) {
    this.request = request;
    this.response = response;
    this.method = request.method ?? 'GET';
    this.#expectsContinue = expectsContinue;
    this.#limits = limits;
    this.clientAddress = clientAddressOf(request.socket.remoteAddress, undefined, limits.trusted);
  }

  get requestId(): string {
    return this.extra['x-request-id'] ?? '';
  }

  /** Header checks, the request id (a valid client one is kept), the client address, trace. */
  accept(): void {
    const headers = checkRawHeaders(this.request.rawHeaders, {
      maxCount: this.#limits.maxHeaderCount,
      maxBytes: this.#limits.maxHeaderBytes,
    });
    this.headers = headers;
    // The id and the address the constructor set stand unless the headers say otherwise: no
    // second random id, no second look at the peer's address.
    const claimed = headers['x-request-id'];
    if (claimed !== undefined) this.extra['x-request-id'] = requestIdFrom(claimed);
    const forwardedFor = headers['x-forwarded-for'];
    if (forwardedFor !== undefined) {
      this.clientAddress = clientAddressOf(
        this.request.socket.remoteAddress,
        forwardedFor,
        this.#limits.trusted,
      );
    }
    this.facts.traceId = traceContextOf(headers)?.traceId;
  }

  /** Reads the body once, bounded by remote_mcp.max_body_bytes (413 beyond). */
  async readBody(): Promise<Uint8Array> {
    if (this.#expectsContinue) this.response.writeContinue();
    const body = await readBody(this.request, this.#limits.maxBodyBytes);
    this.#bodyRead = true;
    return body;
  }

  /** The rest of an unread body would be parsed as the next request: close instead. */
  closeIfBodyUnread(): void {
    if (!this.request.complete && !this.#bodyRead) this.extra.connection = 'close';
  }

  /**
   * Calls `listener` if the client leaves before its answer is complete (at once if it already
   * has); returns a function that removes it. No AbortController: a request whose client stays
   * — almost all of them — costs a listener at most.
   */
  onClientGone(listener: () => void): () => void {
    if (this.#gone) {
      listener();
      return () => {};
    }
    this.#goneListeners ??= [];
    const listeners = this.#goneListeners;
    listeners.push(listener);
    return () => {
      const index = listeners.indexOf(listener);
      if (index !== -1) listeners.splice(index, 1);
    };
  }

  /** Called once the response closes: cancels outstanding work if the client left early. */
  closed(): void {
    if (this.response.writableFinished) return;
    this.#gone = true;
    const listeners = this.#goneListeners;
    this.#goneListeners = undefined;
    for (const listener of listeners ?? []) listener();
  }
}
