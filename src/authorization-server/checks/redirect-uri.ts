import { RequestError } from '../../errors/index.ts';
import { isLoopbackHost } from '../../lib/host.ts';
import {
  COOKIE_PATH_FIX,
  LOOPBACK_COOKIE_PATH,
  loopbackRedirectUnderCookiePath,
} from '../cookie-scope.ts';

export const MAX_REDIRECT_URI_LENGTH = 2048;

/** What the redirect-URI rules need to know of the authorization server. */
export interface RedirectUriRules {
  /**
   * The issuer is on a loopback host, so its cookies are confined to LOOPBACK_COOKIE_PATH and a
   * loopback redirect URI under that path is refused (cookiePathConfinedFor in cookie-scope.ts).
   */
  readonly confinedCookiePath: boolean;
}

/** Fail closed: a caller that does not name its issuer's rules gets the stricter ones. */
const CONFINED: RedirectUriRules = { confinedCookiePath: true };

/**
 * Why a string cannot be a redirect URI, or undefined when it can. The rules (MCP
 * authorization "Communication Security", RFC 8252 §7.3, RFC 9700 §2.1, RFC 6749 §3.1.2):
 * - https, or plain http to a loopback host only; no other scheme (`javascript:`, `data:`,
 *   custom schemes);
 * - no fragment, no userinfo, no wildcard, no whitespace, control characters or backslashes;
 * - already in the form a URL parser gives back: matching is by simple string comparison, so a
 *   value that parsers would repair (`%2e%2e`, upper-case hosts, `:443`, `..;/`) is refused
 *   rather than compared in one form and followed in another;
 * - on a loopback issuer, no loopback URI under the cookies' path (cookie-scope.ts).
 */
export function redirectUriProblem(
  value: unknown,
  rules: RedirectUriRules = CONFINED,
): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be a non-empty string';
  if (value.length > MAX_REDIRECT_URI_LENGTH)
    return `must be at most ${MAX_REDIRECT_URI_LENGTH} characters`;
  if (!/^[\x21-\x7E]+$/.test(value) || value.includes('\\'))
    return 'must not contain whitespace, control or non-ASCII characters, or backslashes';
  if (value.includes('#')) return 'must not contain a fragment';
  if (value.includes('*')) return 'must not contain wildcards';
  if (!URL.canParse(value)) return 'must be an absolute URL';
  const url = new URL(value);
  if (url.username !== '' || url.password !== '') return 'must not contain userinfo';
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) return 'plain http is allowed only to loopback hosts';
  } else if (url.protocol !== 'https:') {
    return `scheme ${url.protocol} is not allowed; use https (or http to loopback)`;
  }
  if (url.href !== value) return `must be written in normalized form (${url.href})`;
  if (rules.confinedCookiePath && loopbackRedirectUnderCookiePath(url))
    return `on a loopback host must not be under ${LOOPBACK_COOKIE_PATH} (the sign-in cookies' path on this loopback issuer); ${COOKIE_PATH_FIX}`;
  return undefined;
}

/** Loopback per RFC 8252 §7.3, where any port is accepted: http to a loopback host. */
function isLoopbackRedirect(url: URL): boolean {
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/**
 * Finds the registered redirect URI a request names. Exact string match (RFC 9700 §4.1.3),
 * except that for a loopback registration the port may differ (RFC 8252 §7.3): scheme, host,
 * path and query must still be identical.
 */
export function matchRedirectUri(
  registered: readonly string[],
  requested: string,
  rules: RedirectUriRules = CONFINED,
): string | undefined {
  if (registered.includes(requested)) return requested;
  if (redirectUriProblem(requested, rules) !== undefined) return undefined;
  const asked = new URL(requested);
  if (!isLoopbackRedirect(asked)) return undefined;
  for (const candidate of registered) {
    if (!URL.canParse(candidate)) continue;
    const known = new URL(candidate);
    if (
      isLoopbackRedirect(known) &&
      known.hostname === asked.hostname &&
      known.pathname === asked.pathname &&
      known.search === asked.search
    ) {
      return requested;
    }
  }
  return undefined;
}

/** Throws when the requested redirect URI is not one the client registered. */
export function checkRedirectUri(
  registered: readonly string[],
  requested: string,
  rules: RedirectUriRules = CONFINED,
): string {
  // Checked first and for every client: a pre-registered client's URIs skip redirectUriProblem.
  if (
    rules.confinedCookiePath &&
    URL.canParse(requested) &&
    loopbackRedirectUnderCookiePath(new URL(requested))
  ) {
    throw new RequestError(
      'OAuthInvalidRequest',
      `a loopback redirect_uri must not be under ${LOOPBACK_COOKIE_PATH}, where this loopback issuer's sign-in cookies are sent; ${COOKIE_PATH_FIX}`,
    );
  }
  const match = matchRedirectUri(registered, requested, rules);
  if (match === undefined) {
    throw new RequestError(
      'OAuthInvalidRequest',
      'redirect_uri is not registered for this client (exact match required)',
    );
  }
  return match;
}
