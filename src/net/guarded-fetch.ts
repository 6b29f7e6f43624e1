import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { RequestError } from '../errors/index.ts';
import { guardedLookup, type Resolver } from './lookup.ts';
import { BlockedAddressError, checkUrl, type DestinationPolicy, refuseAddress } from './policy.ts';
import { BodyTooLargeError, readCappedBody } from './read-body.ts';

/**
 * A `fetch`-compatible function for URLs that someone else named (JWKS, metadata, introspection,
 * client metadata documents, discovery). Its Response has the body already read, decoded and
 * capped; nothing streams.
 */
export type GuardedFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface GuardedFetchOptions {
  /**
   * Development switch: loopback addresses (127.0.0.0/8, ::1, `localhost`) may be contacted,
   * and plain http is allowed to them (and only to them). Off by default.
   */
  readonly allowLoopback?: boolean;
  /** Deadline for the whole exchange (connect, headers and body), in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Cap on the response body, counted after decompression, in bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Ports that may be contacted; default: any port (the address rules still apply). */
  readonly allowedPorts?: readonly number[];
  /** Resolver with the signature of `dns.lookup`; default the system resolver. For tests. */
  readonly resolver?: Resolver;
  /** User-Agent sent when the caller sets none. */
  readonly userAgent?: string;
}

export const DEFAULT_FETCH_TIMEOUT_MS = 5000;
export const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024;

/** Fetch's redirect statuses (Fetch standard §2.2.6). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Statuses whose Response must have a null body. */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);
/** Request headers the caller may not set: the connection is ours to describe. */
const REQUEST_HEADERS_DROPPED = new Set([
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
  'accept-encoding',
]);
/** Response headers that describe the wire form we have already undone. */
const RESPONSE_HEADERS_DROPPED = new Set([
  'content-encoding',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
]);

class FetchTimeoutError extends Error {
  override readonly name = 'FetchTimeoutError';
}

function toRequestError(error: unknown, url: URL): RequestError {
  if (error instanceof RequestError) return error;
  const where = `${url.protocol}//${url.host}`;
  if (error instanceof BlockedAddressError) {
    return new RequestError('FetchBlocked', `${where}: ${error.message}`, {
      expose: false,
      cause: error,
    });
  }
  const reason =
    error instanceof FetchTimeoutError || error instanceof BodyTooLargeError
      ? error.message
      : error instanceof Error
        ? `${error.name}${'code' in error ? ` ${String(error.code)}` : ''}: ${error.message}`
        : String(error);
  return new RequestError('FetchFailed', `${where}: ${reason}`, { expose: false, cause: error });
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`${name} must be a positive number`);
  return value;
}

/**
 * Creates the SSRF-guarded fetch. What it refuses, with `RequestError('FetchBlocked')`:
 * - schemes other than https; plain http except to loopback under `allowLoopback`;
 * - URLs with userinfo; ports outside `allowedPorts` when given;
 * - hosts that are, or resolve to, anything but public unicast (every answer is checked, on the
 *   address the socket then connects to; IP literals in all their spellings, IPv4-mapped IPv6);
 * - redirects: a 301/302/303/307/308 answer is refused, never followed and never returned,
 *   whatever `init.redirect` says.
 * What fails with `RequestError('FetchFailed')`: network errors, the deadline (`timeoutMs` for
 * the whole exchange), bodies over `maxBytes` after decompression, unknown content codings.
 * Environment proxies (HTTP(S)_PROXY) are not used, so they cannot route around the checks.
 * An aborted `init.signal` rejects with the signal's reason, as fetch does.
 */
export function createGuardedFetch(options: GuardedFetchOptions = {}): GuardedFetch {
  const timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULT_FETCH_TIMEOUT_MS);
  const maxBytes = positive('maxBytes', options.maxBytes, DEFAULT_FETCH_MAX_BYTES);
  const policy: DestinationPolicy = Object.freeze({
    allowLoopback: options.allowLoopback === true,
    allowedPorts: options.allowedPorts ? Object.freeze([...options.allowedPorts]) : undefined,
  });
  const userAgent = options.userAgent ?? 'portcullis';
  const resolver = options.resolver;

  return async function guardedFetch(input, init = {}) {
    if (typeof input !== 'string' && !(input instanceof URL)) {
      throw new TypeError('guarded fetch takes a URL string or URL object');
    }
    const { url, requireLoopback } = checkUrl(input, policy);
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    // Let the platform normalize method, headers and body exactly as fetch would.
    const request = new Request(url, { ...init, redirect: 'manual', signal: undefined });
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      if (!REQUEST_HEADERS_DROPPED.has(name)) headers[name] = value;
    });
    headers['accept-encoding'] = 'gzip, deflate, br';
    headers['user-agent'] ??= userAgent;
    if (body !== undefined) headers['content-length'] = String(body.length);

    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const transport = url.protocol === 'https:' ? https : http;
      const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const outgoing = transport.request({
        protocol: url.protocol,
        hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers,
        agent: false,
        lookup: guardedLookup(policy, requireLoopback, resolver),
      });
      const finish = (error: unknown, response?: Response): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error !== undefined) {
          outgoing.destroy();
          reject(signal?.aborted ? signal.reason : toRequestError(error, url));
        } else if (response) resolve(response);
      };
      const onAbort = (): void => finish(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(
        () => finish(new FetchTimeoutError(`no complete answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const checkPeer = (socket: Socket): void => {
        const peer = socket.remoteAddress;
        const reason =
          peer === undefined ? 'no peer address' : refuseAddress(peer, policy, requireLoopback);
        if (reason !== undefined)
          finish(new BlockedAddressError(`connected peer refused: ${reason}`));
      };
      outgoing.on('socket', (socket) => {
        // Defence in depth: the lookup already refused bad answers; check the real peer too.
        socket.once('connect', () => checkPeer(socket));
      });
      outgoing.on('error', (error) => finish(error));
      outgoing.on('response', (incoming) => {
        checkPeer(incoming.socket);
        if (settled) {
          incoming.destroy();
          return;
        }
        const status = incoming.statusCode ?? 0;
        if (REDIRECT_STATUSES.has(status)) {
          incoming.destroy();
          finish(
            new RequestError(
              'FetchBlocked',
              `${url.protocol}//${url.host}: answered ${status}; redirects are never followed`,
              { expose: false },
            ),
          );
          return;
        }
        if (status < 200 || status > 599) {
          incoming.destroy();
          finish(new Error(`unexpected status ${status}`));
          return;
        }
        readCappedBody(incoming, maxBytes).then(
          (bytes) => {
            if (settled) return;
            try {
              finish(undefined, toResponse(incoming, status, bytes, url));
            } catch (error) {
              finish(error);
            }
          },
          (error: unknown) => finish(error),
        );
      });
      outgoing.end(body);
    });
  };
}

function toResponse(incoming: http.IncomingMessage, status: number, bytes: Buffer, url: URL) {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index] ?? '';
    if (RESPONSE_HEADERS_DROPPED.has(name.toLowerCase())) continue;
    try {
      headers.append(name, raw[index + 1] ?? '');
    } catch {
      // A header value Fetch cannot represent is dropped rather than failing the answer.
    }
  }
  const body = NULL_BODY_STATUSES.has(status) || bytes.length === 0 ? null : bytes;
  let response: Response;
  try {
    response = new Response(body, { status, statusText: incoming.statusMessage ?? '', headers });
  } catch {
    response = new Response(body, { status, headers });
  }
  // There is no redirect, so the final URL is the requested one.
  Object.defineProperty(response, 'url', { value: url.href });
  return response;
}
