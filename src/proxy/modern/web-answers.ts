import { BoundedAnswer } from '../responses.ts';

/**
 * The modern path's bounded answers — JSON bodies, refusals, 202s — as the gateway's
 * BoundedAnswer: the HTTP front writes each in one write with its length, with no Web Response
 * or stream adapter in between. Only answers that truly stream (SSE) stay Web Responses.
 * Every call returns a fresh header object: the front adds its own headers to it in place.
 */

export function jsonAnswer(
  text: string,
  status = 200,
  extra?: Readonly<Record<string, string>>,
): BoundedAnswer {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (extra !== undefined) Object.assign(headers, extra);
  return new BoundedAnswer(status, headers, text);
}

/** 202 Accepted with no body: the answer to a notification or a response (MCP transports). */
export function acceptedAnswer(): BoundedAnswer {
  return new BoundedAnswer(202, {}, undefined);
}

/** A rendered refusal (status, its own headers, JSON-RPC error body) as a bounded answer. */
export function refusalAnswer(refusal: {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}): BoundedAnswer {
  return new BoundedAnswer(refusal.status, { ...refusal.headers }, refusal.body);
}
