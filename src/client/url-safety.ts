import { ClientError } from '../errors/index.ts';
import { isLoopbackHost } from '../lib/host.ts';

/**
 * Characters refused anywhere in an authorization endpoint: controls, whitespace, quotes and the
 * shell's metacharacters. The URL is never handed to a shell, but a remote server has no business
 * sending these, and refusing them closes the door the mcp-remote command injection
 * (CVE-2025-6514) went through. `&` is allowed in the query only, where it separates parameters.
 */
const UNSAFE_PRINTABLE = /["'`<>\\^{}|$;()]/;
const UNSAFE_OUTSIDE_QUERY = /&/;

/** Controls (C0 and DEL), space and anything outside ASCII: never in an endpoint as sent. */
function hasControlOrSpace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f) return true;
  }
  return false;
}

export interface UrlPolicy {
  /** Plain http is acceptable to loopback hosts (development, test servers). */
  readonly allowLoopbackHttp: boolean;
}

/**
 * Checks an authorization endpoint named by authorization server metadata before anything is
 * built from it (MCP security best practices, "OAuth Authorization URL Validation"): an absolute
 * http(s) URL, https unless loopback is allowed, no credentials, no fragment, no metacharacters.
 */
export function checkAuthorizationEndpoint(raw: string, policy: UrlPolicy): URL {
  const refuse = (why: string) =>
    new ClientError(
      'ClientUnsafeAuthorizationUrl',
      `the authorization endpoint ${JSON.stringify(raw.slice(0, 200))} is refused: ${why}`,
      { fix: 'the authorization server metadata is unsafe or malformed; contact its operator' },
    );
  const queryStart = raw.indexOf('?');
  const beforeQuery = queryStart === -1 ? raw : raw.slice(0, queryStart);
  if (
    hasControlOrSpace(raw) ||
    UNSAFE_PRINTABLE.test(raw) ||
    UNSAFE_OUTSIDE_QUERY.test(beforeQuery)
  ) {
    throw refuse('it contains whitespace, control or shell metacharacters');
  }
  if (!URL.canParse(raw)) throw refuse('it is not an absolute URL');
  const url = new URL(raw);
  if (raw.includes('#')) throw refuse('it has a fragment (RFC 6749 §3.1)');
  checkOpenable(url, policy, refuse);
  return url;
}

/**
 * Checks a URL just before it is shown or opened: http(s) only, https unless the host is
 * loopback and that is allowed, no credentials.
 */
export function checkOpenableUrl(url: URL, policy: UrlPolicy): void {
  checkOpenable(url, policy, (why) => {
    return new ClientError(
      'ClientUnsafeAuthorizationUrl',
      `the authorization URL for ${url.protocol}//${url.host} is refused: ${why}`,
    );
  });
}

function checkOpenable(url: URL, policy: UrlPolicy, refuse: (why: string) => ClientError): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw refuse(`scheme ${url.protocol} is not http or https`);
  }
  if (url.username || url.password) throw refuse('it carries credentials');
  if (url.protocol === 'http:' && !(policy.allowLoopbackHttp && isLoopbackHost(url.hostname))) {
    throw refuse('plain http is allowed only to a loopback host, in development');
  }
}
