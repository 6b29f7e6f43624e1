import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RequestError } from '../errors/index.ts';
import { normalizeAddress } from '../lib/address.ts';
import type { Logger } from '../lib/log.ts';
import { newRequestFacts, type RequestObserver } from '../proxy/index.ts';
import { rawErrorResponse } from './respond.ts';

/**
 * Connection accounting and what happens below the request: the connection cap, and answers to
 * what never became a request (parser refusals, CONNECT), each still audited once.
 */

/** Seconds a client turned away at the connection cap (or while starting) is asked to wait. */
export const RETRY_AFTER_SECONDS = '1';

export interface ConnectionTracker {
  /** True for a connection accepted beyond the cap: its requests are answered 503. */
  isOverCap(socket: Socket): boolean;
  /** Connections within the cap. */
  readonly active: number;
  /** Every open connection, those over the cap (answered 503) included. */
  readonly open: number;
}

/**
 * The connection cap (remote_mcp.max_connections → 503). Connections beyond it still get a
 * proper answer: their first request is met with 503, Retry-After and Connection: close. Beyond
 * twice the cap, new connections are dropped at once.
 */
export function trackConnections(
  server: http.Server,
  max: number,
  headerTimeoutMs: number,
): ConnectionTracker {
  let active = 0;
  let over = 0;
  const overCap = new WeakSet<Socket>();
  server.prependListener('connection', (socket: Socket) => {
    if (active < max) {
      active += 1;
      socket.once('close', () => {
        active -= 1;
      });
      return;
    }
    if (over >= max) {
      socket.destroy();
      return;
    }
    over += 1;
    overCap.add(socket);
    socket.once('close', () => {
      over -= 1;
    });
    socket.setTimeout(headerTimeoutMs, () => socket.destroy());
  });
  return {
    isOverCap: (socket: Socket) => overCap.has(socket),
    get active() {
      return active;
    },
    get open() {
      return active + over;
    },
  };
}

/** The refusal for a request on a connection over the cap. */
export function capacityExceeded(): RequestError {
  return new RequestError('CapacityExceeded', 'too many connections', {
    details: { retryAfter: RETRY_AFTER_SECONDS },
  });
}

/** Answers what Node's parser refused, with our error body, and closes the connection. */
export function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Socket,
  logger: Logger,
  observer: RequestObserver,
): void {
  const written = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || written?.headersSent) {
    socket.destroy();
    return;
  }
  const refusal =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new RequestError('RequestHeadersTooLarge', 'request headers too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RequestError('RequestTimeout', 'the request took too long to arrive')
        : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? new RequestError('RequestBodyTooLarge', 'chunk extensions too large')
          : new RequestError('RequestMalformed', 'malformed HTTP request');
  logger.info({ code: refusal.code, parser: error.code }, 'refused by the HTTP parser');
  refuseSocket(socket, refusal, undefined, observer);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** CONNECT is not a method this gateway serves (RFC 9110 §9.3.6): 405, audited, closed. */
export function refuseConnect(
  request: IncomingMessage,
  socket: Socket,
  observer: RequestObserver,
): void {
  refuseSocket(
    socket,
    new RequestError('MethodNotAllowed', 'CONNECT is not supported'),
    request.method,
    observer,
  );
}

function refuseSocket(
  socket: Socket,
  refusal: RequestError,
  httpMethod: string | undefined,
  observer: RequestObserver,
): void {
  const requestId = randomUUID();
  const facts = newRequestFacts();
  facts.reason = refusal.code;
  observer.finish(facts, {
    requestId,
    clientAddress: normalizeAddress(socket.remoteAddress ?? 'unknown'),
    httpMethod,
    status: refusal.status,
  });
  socket.end(rawErrorResponse(refusal, requestId));
}
