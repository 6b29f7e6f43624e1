import { renderError } from '../errors/render.ts';

/** Response helpers shared by the gateway's handlers. */

export const SESSION_HEADER = 'mcp-session-id';

/** SSE response headers: no caching, no proxy buffering (MCP-14 in docs/security-cases.md). */
export function sseHeaders(extra: Record<string, string> = {}): Headers {
  return new Headers({
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    ...extra,
  });
}

export function jsonResponse(
  text: string,
  status = 200,
  extra: Record<string, string> = {},
): Response {
  return new Response(text, {
    status,
    headers: { 'content-type': 'application/json', ...extra },
  });
}

/** 202 Accepted with no body: the answer to a notification or a response (MCP transports). */
export function accepted(extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 202, headers: extra });
}

/**
 * Renders an error through the one renderer (src/errors/render.ts: status, Retry-After, Allow,
 * Cache-Control and body from the catalogue and the error's details) as a Web Response.
 */
export function errorToResponse(error: unknown, extra: Record<string, string> = {}): Response {
  const rendered = renderError(error, { headers: extra });
  return new Response(rendered.body, { status: rendered.status, headers: rendered.headers });
}

/** True when an Accept header admits the media type (RFC 9110 §12.5.1, ignoring q=0 subtleties). */
export function accepts(accept: string | undefined, type: string): boolean {
  if (accept === undefined) return false;
  const [major] = type.split('/');
  return accept.split(',').some((part) => {
    const range = part.split(';')[0]?.trim().toLowerCase();
    return range === type || range === `${major}/*` || range === '*/*';
  });
}
