/**
 * The Web Responses the modern path answers with. They are built here rather than with the
 * gateway's shared helpers so that the modern path's answers stay streams-or-bytes Responses
 * whatever shape the shared helpers give bounded answers.
 */

export function jsonAnswer(
  text: string,
  status = 200,
  extra: Readonly<Record<string, string>> = {},
): Response {
  return new Response(text, {
    status,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...extra,
    },
  });
}

/** 202 Accepted with no body: the answer to a notification or a response (MCP transports). */
export function acceptedAnswer(): Response {
  return new Response(null, { status: 202 });
}
