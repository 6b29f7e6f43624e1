import { RequestError } from '../errors/index.ts';
import { BoundedAnswer, errorToResponse, type RouteEntry } from '../proxy/index.ts';
import type { HostPolicy } from './front-checks.ts';

/**
 * CORS for browser MCP clients on an allowed origin (Fetch standard, "CORS protocol"): which
 * routes check Host and Origin, the headers an allowed origin gets, and the preflight answer.
 */

/** Response headers a browser client on an allowed origin may read. */
const EXPOSED_HEADERS =
  'mcp-session-id, mcp-protocol-version, www-authenticate, x-request-id, dpop-nonce';
const ALLOWED_METHODS = 'GET, POST, DELETE';
const ALLOWED_HEADERS =
  'authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id, dpop';

/**
 * Host and Origin checks for a route; returns the allowed origin to answer with CORS headers,
 * or undefined when the request carries none (or the route is open to every origin).
 */
export function checkHostAndOrigin(
  policy: HostPolicy,
  entry: RouteEntry,
  headers: Readonly<Record<string, string>>,
): string | undefined {
  // Health probes come from orchestrators that address the pod, not the public host.
  if (entry.kind === 'healthz' || entry.kind === 'readyz') return undefined;
  policy.checkHost(headers.host);
  // Protected resource metadata is public and credential-free: any origin may read it.
  if (entry.kind === 'metadata') return undefined;
  return policy.checkOrigin(headers.origin);
}

/** Adds the CORS response headers for an allowed origin. */
export function addCorsHeaders(extra: Record<string, string>, origin: string): void {
  extra['access-control-allow-origin'] = origin;
  extra['access-control-expose-headers'] = EXPOSED_HEADERS;
  extra.vary = 'Origin';
}

/** CORS preflight for a browser client on an allowed origin; 405 for anyone else. */
export function preflight(origin: string | undefined): BoundedAnswer {
  if (origin === undefined) {
    return errorToResponse(
      new RequestError('MethodNotAllowed', 'OPTIONS is only for CORS preflight', {
        details: { allow: ALLOWED_METHODS },
      }),
    );
  }
  return new BoundedAnswer(
    204,
    {
      'access-control-allow-methods': ALLOWED_METHODS,
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
    },
    undefined,
  );
}
