import { canonicalResource } from '../config/index.ts';
import { ClientError } from '../errors/index.ts';
import { isLoopbackHost } from '../lib/host.ts';

export { canonicalResource };

const PRM_SUFFIX = '/.well-known/oauth-protected-resource';

/**
 * Checks the MCP server URL a user gave: absolute, http(s), no credentials; https unless the host
 * is loopback (bearer tokens never travel in clear to another machine, OAuth 2.1 §1.5). The
 * fragment is dropped (RFC 8707 §2).
 */
export function parseServerUrl(raw: string): URL {
  if (!URL.canParse(raw)) {
    throw new ClientError('ClientServerUrlInvalid', `"${raw}" is not an absolute URL`, {
      fix: 'give the full MCP endpoint URL, e.g. https://mcp.example.com/mcp',
    });
  }
  const url = new URL(raw);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ClientError('ClientServerUrlInvalid', `scheme ${url.protocol} is not http(s)`, {
      fix: 'use an https:// URL',
    });
  }
  if (url.username || url.password) {
    throw new ClientError('ClientServerUrlInvalid', 'the URL carries credentials', {
      fix: 'remove user:password@ from the URL; use --header or OAuth instead',
    });
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ClientError(
      'ClientServerUrlInvalid',
      `plain http to ${url.host} would send credentials in clear`,
      { fix: 'use https:// (plain http is accepted for 127.0.0.1, ::1 and localhost only)' },
    );
  }
  url.hash = '';
  return url;
}

export function isLoopbackUrl(url: URL): boolean {
  return isLoopbackHost(url.hostname);
}

/** True when two resource identifiers are the same once put in canonical form (RFC 8707 §2). */
export function sameResource(a: string, b: string): boolean {
  try {
    return canonicalResource(a) === canonicalResource(b);
  } catch {
    return false;
  }
}

/** A protected resource metadata URL and the resource identifiers its document may name. */
export interface MetadataCandidate {
  readonly url: string;
  /**
   * RFC 9728 §3.3: `resource` must be the identifier the well-known suffix was inserted into.
   * The MCP server's own URL is accepted as well from the root document, since a token bound to
   * exactly that URL cannot be replayed anywhere else.
   */
  readonly acceptableResources: readonly string[];
}

/**
 * RFC 9728 §3.1 well-known URLs, in the order MCP 2025-11-25 prescribes: the path-inserted form
 * (skipped when the endpoint has no path), then the root form.
 */
export function metadataCandidates(serverUrl: URL): MetadataCandidate[] {
  const path = serverUrl.pathname.replace(/\/$/, '');
  const candidates: MetadataCandidate[] = [];
  if (path !== '' || serverUrl.search !== '') {
    candidates.push({
      url: `${serverUrl.origin}${PRM_SUFFIX}${path}${serverUrl.search}`,
      acceptableResources: [serverUrl.href],
    });
  }
  candidates.push({
    url: `${serverUrl.origin}${PRM_SUFFIX}`,
    acceptableResources: [serverUrl.origin, serverUrl.href],
  });
  return candidates;
}
