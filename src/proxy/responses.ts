import { renderError } from '../errors/render.ts';

/** Response helpers shared by the gateway's handlers. */

/**
 * An answer whose body is already in memory and bounded — JSON, an error, an empty 202. The
 * HTTP front writes it to the socket in one write with its length: no Web Response, no stream
 * adapter and no header copy on the way. Once handed to the front, the front owns `headers`
 * (it adds its own, such as the request id, to the same object).
 */
export class BoundedAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;

  constructor(
    status: number,
    headers: Record<string, string>,
    body: string | Uint8Array | undefined,
  ) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/** What the gateway answers: a bounded answer, or a Web Response for streams (SSE). */
export type Answer = BoundedAnswer | Response;

/** A response header of either kind of answer (names lower-case). */
export function headerOf(answer: Answer, name: string): string | undefined {
  return answer instanceof BoundedAnswer
    ? answer.headers[name]
    : (answer.headers.get(name) ?? undefined);
}

/** True for a server-sent event stream (text/event-stream). */
export function isEventStream(answer: Answer): boolean {
  return (headerOf(answer, 'content-type') ?? '').startsWith('text/event-stream');
}

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
): BoundedAnswer {
  return new BoundedAnswer(status, { 'content-type': 'application/json', ...extra }, text);
}

/** 202 Accepted with no body: the answer to a notification or a response (MCP transports). */
export function accepted(extra: Record<string, string> = {}): BoundedAnswer {
  return new BoundedAnswer(202, { ...extra }, undefined);
}

/**
 * Renders an error through the one renderer (src/errors/render.ts: status, Retry-After, Allow,
 * Cache-Control and body from the catalogue and the error's details) as a bounded answer.
 */
export function errorToResponse(error: unknown, extra: Record<string, string> = {}): BoundedAnswer {
  const rendered = renderError(error, { headers: extra });
  return new BoundedAnswer(rendered.status, { ...rendered.headers }, rendered.body);
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
