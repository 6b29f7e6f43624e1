import http, { type ServerResponse } from 'node:http';
import { type RequestError, renderRequestError } from '../errors/index.ts';
import { type Answer, BoundedAnswer, isEventStream } from '../proxy/index.ts';

/**
 * Response writing: every answer of the public listener leaves through here, as one write when
 * its length is known and bounded, streamed with backpressure otherwise.
 */

/**
 * Writes an answer to a node response. `extra` headers (request id, CORS, Connection) are added
 * to the answer's own; `closing` adds Connection: close (shutdown under way). A bounded answer
 * is written at once (undefined: nothing to wait for); a streamed one returns the promise of its
 * end.
 */
export function writeAnswer(
  response: ServerResponse,
  answer: Answer,
  extra: Record<string, string>,
  closing: boolean,
): Promise<void> | undefined {
  if (answer instanceof BoundedAnswer) {
    writeBounded(response, answer, extra, closing);
    return undefined;
  }
  return writeWebResponse(response, answer, extra, closing);
}

/** Head and body in one write, with the length: the path every JSON answer takes. */
function writeBounded(
  response: ServerResponse,
  answer: BoundedAnswer,
  extra: Record<string, string>,
  closing: boolean,
): void {
  // The answer's header object is ours once handed over: the front's headers join it in place.
  const headers = Object.assign(answer.headers, extra);
  if (closing) headers.connection = 'close';
  const body = answer.body;
  if (body === undefined) {
    response.writeHead(answer.status, headers);
    response.end();
    return;
  }
  headers['content-length'] = String(
    typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
  );
  response.writeHead(answer.status, headers);
  response.end(body);
}

/** A Web Response (SSE streams, the authorization server's pages): streamed with backpressure. */
async function writeWebResponse(
  response: ServerResponse,
  answer: Response,
  extra: Record<string, string>,
  closing: boolean,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  answer.headers.forEach((value, name) => {
    headers[name] = value;
  });
  // Iteration yields each Set-Cookie on its own, and they cannot be folded into one field
  // (RFC 6265 §3): every one is written.
  const cookies = answer.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  Object.assign(headers, extra);
  if (closing) headers.connection = 'close';
  const stream = isEventStream(answer);
  if (headers['content-length'] !== undefined && !stream) {
    // Known, bounded length: head and body leave in one write.
    const whole = Buffer.from(await answer.arrayBuffer());
    response.writeHead(answer.status, headers);
    response.end(whole);
    return;
  }
  response.writeHead(answer.status, headers);
  const body = answer.body;
  if (body === null) {
    response.end();
    return;
  }
  if (stream) response.flushHeaders();
  const reader = body.getReader();
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  response.once('close', cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!response.write(value)) await drained(response);
      if (response.destroyed) return;
    }
    response.end();
  } catch {
    response.destroy();
  } finally {
    response.off('close', cancel);
  }
}

function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}

/**
 * A whole HTTP/1.1 response as text, for sockets that never became a request Node could parse
 * (parser refusals, CONNECT): rendered by the one error renderer, then Connection: close.
 */
export function rawErrorResponse(error: RequestError, requestId: string): string {
  const rendered = renderRequestError(error);
  const lines = [`HTTP/1.1 ${rendered.status} ${http.STATUS_CODES[rendered.status] ?? ''}`];
  for (const [name, value] of Object.entries(rendered.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${Buffer.byteLength(rendered.body)}`);
  lines.push(`x-request-id: ${requestId}`);
  lines.push('connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${rendered.body}`;
}
