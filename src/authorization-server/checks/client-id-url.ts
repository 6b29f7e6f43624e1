import { isLoopbackHost } from '../../lib/host.ts';

export const MAX_CLIENT_ID_URL_LENGTH = 2048;

/** True when a client_id is meant as a client ID metadata document URL. */
export function looksLikeClientIdUrl(clientId: string): boolean {
  return /^https?:/i.test(clientId);
}

/**
 * Why a client_id URL may not be fetched as a client ID metadata document, or undefined
 * (draft-ietf-oauth-client-id-metadata-document §3): https with a path; no fragment, userinfo,
 * `.` or `..` segments (encoded or not); no query (SHOULD NOT; refused here); already in the
 * form a URL parser gives back, so the document's `client_id` can be compared by simple string
 * comparison. Plain http only to loopback, and loopback only under the development switch.
 */
export function clientIdUrlProblem(value: string, allowLoopback: boolean): string | undefined {
  if (value.length > MAX_CLIENT_ID_URL_LENGTH)
    return `is longer than ${MAX_CLIENT_ID_URL_LENGTH} characters`;
  if (!/^[\x21-\x7E]+$/.test(value) || value.includes('\\'))
    return 'contains whitespace, control or non-ASCII characters, or backslashes';
  if (value.includes('#')) return 'has a fragment';
  if (value.includes('?')) return 'has a query';
  if (!URL.canParse(value)) return 'is not an absolute URL';
  const url = new URL(value);
  if (url.username !== '' || url.password !== '' || /^[a-z]+:\/\/[^/]*@/i.test(value))
    return 'has userinfo';
  const rawPath = value.replace(/^[a-z]+:\/\/[^/]*/i, '');
  if (rawPath.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment)))
    return 'has . or .. path segments';
  const loopback = isLoopbackHost(url.hostname);
  if (loopback && !allowLoopback)
    return 'points at loopback (allowed only with development.allow_loopback_urls)';
  if (url.protocol === 'http:') {
    if (!loopback) return 'is not https';
  } else if (url.protocol !== 'https:') return 'is not https';
  if (url.pathname === '/' || url.pathname === '') return 'has no path';
  if (url.href !== value) return `is not in normalized form (${url.href})`;
  return undefined;
}
