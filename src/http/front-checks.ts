import { randomUUID } from 'node:crypto';
import { RequestError } from '../errors/index.ts';
import { type AddressMatcher, normalizeAddress } from '../lib/address.ts';
import { isLoopbackHost } from '../lib/host.ts';

/**
 * Checks the HTTP front makes on its own, on top of Node's parser (which refuses ambiguous
 * framing but neither counts headers nor refuses repeated ones).
 */

/**
 * Headers that must appear at most once: RFC 9112 §3.2 (Host), RFC 9110 §8.6 (Content-Length),
 * RFC 6750 §2.1 (one credential), and the ones the gateway decides on.
 */
const SINGLE_HEADERS = new Set([
  'host',
  'authorization',
  'content-length',
  'content-type',
  'transfer-encoding',
  'origin',
  'mcp-session-id',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'last-event-id',
  'dpop',
]);

export interface HeaderLimits {
  readonly maxCount: number;
  readonly maxBytes: number;
}

/**
 * Counts and sizes the raw header lines (Node silently drops lines beyond maxHeadersCount, so
 * the count is ours: 431), refuses repeated critical headers (400), and returns the headers
 * lower-cased with one value each.
 */
export function checkRawHeaders(
  rawHeaders: readonly string[],
  limits: HeaderLimits,
): Record<string, string> {
  const count = rawHeaders.length / 2;
  if (count > limits.maxCount) {
    throw new RequestError('RequestHeadersTooLarge', `more than ${limits.maxCount} header lines`);
  }
  let bytes = 0;
  const headers: Record<string, string> = Object.create(null);
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = (rawHeaders[index] ?? '').toLowerCase();
    const value = rawHeaders[index + 1] ?? '';
    bytes += name.length + value.length + 4;
    const previous = headers[name];
    if (previous === undefined) {
      headers[name] = value;
    } else if (SINGLE_HEADERS.has(name)) {
      throw new RequestError('RequestMalformed', `the ${name} header appears more than once`);
    } else {
      // RFC 9110 §5.3: repeated field lines combine into one comma-separated list.
      headers[name] = `${previous}, ${value}`;
    }
  }
  if (bytes > limits.maxBytes) {
    throw new RequestError('RequestHeadersTooLarge', `headers exceed ${limits.maxBytes} bytes`);
  }
  return headers;
}

/** RFC 9112 §3.2.2: the gateway serves origin-form targets only; absolute-form is refused. */
export function checkRequestTarget(target: string | undefined): string {
  if (target === undefined || !target.startsWith('/')) {
    throw new RequestError('RequestMalformed', 'only origin-form request targets are accepted');
  }
  return target;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** A valid UUID X-Request-Id is kept (docs/gateway.md); anything else is replaced. */
export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && UUID.test(header) ? header.toLowerCase() : randomUUID();
}

/**
 * The client's address. X-Forwarded-For is believed only when the peer is a trusted proxy, and
 * then read from the right: the first address that is not itself a trusted proxy is the client
 * (RFC 7239 §5.2 semantics; RFC 9700 §4.13: proxies' inbound headers are sanitized).
 */
export function clientAddressOf(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: AddressMatcher,
): string {
  const direct = normalizeAddress(peer ?? 'unknown');
  if (forwardedFor === undefined || !trusted.matches(direct)) return direct;
  const hops = forwardedFor
    .split(',')
    .map((hop) => normalizeAddress(hop.trim()))
    .filter((hop) => hop !== '');
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hops[index] as string;
    if (!trusted.matches(hop)) return hop;
  }
  return hops[0] ?? direct;
}

/**
 * DNS-rebinding defence (MCP transports, "Security Warning"; CVE-2025-66414): the Host header
 * must name this gateway, and an Origin header, when present, must be one of its origins or an
 * allowed one. Both are checked before any body is read.
 */
export class HostPolicy {
  readonly #hosts = new Set<string>();
  readonly #origins = new Set<string>();

  constructor(options: {
    publicUrl: string;
    bindHost: string;
    port: number;
    allowedOrigins: readonly string[];
  }) {
    const publicUrl = new URL(options.publicUrl);
    this.#addOrigin(publicUrl.origin);
    this.#hosts.add(publicUrl.host.toLowerCase());
    const defaultPort = publicUrl.protocol === 'https:' ? '443' : '80';
    if (publicUrl.port === '')
      this.#hosts.add(`${publicUrl.hostname.toLowerCase()}:${defaultPort}`);
    const bindHosts = [options.bindHost];
    // A loopback listener is reachable only from this machine; its other loopback names are
    // the same listener, and no rebinding attacker can make a browser send them.
    if (isLoopbackHost(options.bindHost)) bindHosts.push('localhost', '127.0.0.1', '::1');
    for (const host of bindHosts) {
      const authority = `${host.includes(':') ? `[${host}]` : host}:${options.port}`.toLowerCase();
      this.#hosts.add(authority);
      this.#addOrigin(`http://${authority}`);
      this.#addOrigin(`https://${authority}`);
    }
    for (const origin of options.allowedOrigins) this.#addOrigin(origin);
  }

  checkHost(host: string | undefined): void {
    if (host === undefined || host === '') {
      throw new RequestError('RequestMalformed', 'the Host header is required');
    }
    if (!this.#hosts.has(host.toLowerCase())) {
      throw new RequestError('RequestOriginForbidden', 'this gateway does not serve that host');
    }
  }

  /** Returns the normalized origin when present and allowed (for CORS), undefined when absent. */
  checkOrigin(origin: string | undefined): string | undefined {
    if (origin === undefined) return undefined;
    const normalized = URL.canParse(origin) ? new URL(origin).origin : 'null';
    if (normalized === 'null' || !this.#origins.has(normalized)) {
      throw new RequestError('RequestOriginForbidden', 'requests from this origin are refused');
    }
    return normalized;
  }

  #addOrigin(origin: string): void {
    if (URL.canParse(origin)) this.#origins.add(new URL(origin).origin);
  }
}
