import { RequestError } from '../errors/index.ts';
import { type AddressClass, classifyAddress } from './address.ts';

/** The part of the fetch options that decides what may be contacted. */
export interface DestinationPolicy {
  /** Development switch: loopback addresses, and plain http to them, are allowed. */
  readonly allowLoopback: boolean;
  /** Ports that may be contacted; undefined means any. */
  readonly allowedPorts: readonly number[] | undefined;
}

/** Raised inside the connection machinery when a resolved or connected address is refused. */
export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
}

function blocked(message: string): RequestError {
  return new RequestError('FetchBlocked', message, { expose: false });
}

/** Names that always mean this machine (RFC 6761 §6.3). */
function isLocalhostName(hostname: string): boolean {
  const lower = hostname.toLowerCase().replace(/\.$/, '');
  return lower === 'localhost' || lower.endsWith('.localhost');
}

/** Unbracketed host of a parsed URL when it is an IP literal, else undefined. */
function ipLiteralOf(url: URL): string | undefined {
  const host = url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) return host.slice(1, -1);
  // WHATWG URL has already turned decimal/octal/hex IPv4 forms into a dotted quad.
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? host : undefined;
}

/**
 * Checks an address the connection is about to use (or has used). Returns the refusal reason,
 * or undefined when the address may be contacted. `requireLoopback` is set for plain http,
 * which is only ever allowed to loopback.
 */
export function refuseAddress(
  address: string,
  policy: DestinationPolicy,
  requireLoopback: boolean,
): string | undefined {
  const found: AddressClass = classifyAddress(address);
  if (found.kind === 'loopback' && policy.allowLoopback) return undefined;
  if (found.kind === 'public' && !requireLoopback) return undefined;
  if (found.kind === 'public') return `plain http is only allowed to loopback, not ${address}`;
  if (found.kind === 'loopback') {
    return `address ${found.address} is loopback (${found.range}); allowed only with the development switch`;
  }
  return `address ${found.address} is not public unicast (${found.range})`;
}

/** The checks that need only the URL. Returns the parsed URL and whether only loopback may serve it. */
export function checkUrl(
  input: string | URL,
  policy: DestinationPolicy,
): { url: URL; requireLoopback: boolean } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw blocked('not an absolute URL');
  }
  let requireLoopback = false;
  if (url.protocol === 'http:') {
    if (!policy.allowLoopback) throw blocked('plain http is refused; use https');
    const literal = ipLiteralOf(url);
    if (literal === undefined && !isLocalhostName(url.hostname)) {
      throw blocked('plain http is allowed only to loopback, under the development switch');
    }
    requireLoopback = true;
  } else if (url.protocol !== 'https:') {
    throw blocked(`scheme ${url.protocol} is refused; only https is fetched`);
  }
  if (url.username !== '' || url.password !== '') {
    throw blocked('URLs with credentials (userinfo) are refused');
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (policy.allowedPorts !== undefined && !policy.allowedPorts.includes(port)) {
    throw blocked(`port ${port} is not among the allowed ports`);
  }
  const literal = ipLiteralOf(url);
  if (literal !== undefined) {
    const reason = refuseAddress(literal, policy, requireLoopback);
    if (reason !== undefined) throw blocked(reason);
  } else if (isLocalhostName(url.hostname) && !policy.allowLoopback) {
    throw blocked(`${url.hostname} is loopback; allowed only with the development switch`);
  }
  return { url, requireLoopback };
}
