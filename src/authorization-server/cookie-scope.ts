import { isLoopbackHost } from '../lib/host.ts';
import { OAUTH_PREFIX } from './settings.ts';

/**
 * Where the browser may send the server's cookies. Cookies are scoped by host, never by port
 * (RFC 6265 §8.5): with an issuer on a loopback host, every native client's loopback redirect
 * URI (RFC 8252 §7.3, any port) is the same cookie host, so a cookie with `Path=/` would reach
 * each client's callback, which could replay it. On a loopback issuer the cookies are therefore
 * limited to the server's own paths, and redirect URIs under that path are refused
 * (`loopbackRedirectUnderCookiePath`). Elsewhere the `__Host-` prefix (which demands `Path=/`)
 * keeps its stronger guarantee against cookies set by sibling hosts (RFC 6265bis §4.1.3.2).
 */
export interface CookieScope {
  readonly secure: boolean;
  readonly path: string;
  /** `__Host-` (Path=/, Secure), `__Secure-` (Secure, narrower path), or none (plain http). */
  readonly prefix: '' | '__Secure-' | '__Host-';
}

/** The path the cookies of a loopback issuer are confined to. */
export const LOOPBACK_COOKIE_PATH = OAUTH_PREFIX;

/**
 * True when the issuer is on a loopback host: the one case where a loopback redirect URI shares
 * the cookie host (RFC 6265 §8.5). Its cookies are then confined to LOOPBACK_COOKIE_PATH and
 * loopback redirect URIs under that path are refused; any other issuer's cookies never reach a
 * loopback callback, so it refuses no path there.
 */
export function cookiePathConfinedFor(issuer: string): boolean {
  return isLoopbackHost(new URL(issuer).hostname);
}

/** How a loopback issuer's refusal tells a client to fix its redirect URI. */
export const COOKIE_PATH_FIX = `use a callback path outside ${LOOPBACK_COOKIE_PATH}, such as /callback (mcp-remote: --callback-path /callback)`;

export function cookieScopeFor(issuer: string, secure: boolean): CookieScope {
  if (!cookiePathConfinedFor(issuer)) return { secure, path: '/', prefix: secure ? '__Host-' : '' };
  return { secure, path: LOOPBACK_COOKIE_PATH, prefix: secure ? '__Secure-' : '' };
}

/**
 * True when a loopback redirect URI's path would receive the cookies of a loopback issuer
 * (RFC 6265 §5.1.4 path-match against LOOPBACK_COOKIE_PATH). Refused for every client of a
 * loopback issuer (cookiePathConfinedFor), so no callback ever gets the browser's sign-in.
 */
export function loopbackRedirectUnderCookiePath(url: URL): boolean {
  // Either scheme: a cookie without Secure goes to https as well.
  if (!isLoopbackHost(url.hostname)) return false;
  const path = url.pathname;
  return path === LOOPBACK_COOKIE_PATH || path.startsWith(`${LOOPBACK_COOKIE_PATH}/`);
}
