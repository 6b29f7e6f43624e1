import { RequestError } from '../errors/index.ts';
import type { HttpAnswer } from '../lib/http-answer.ts';

/** Headers on every answer of the authorization server. */
const BASE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Token, registration and introspection answers carry credentials: never cached (RFC 6749 §5.1). */
export const NO_STORE: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
};

/** Endpoints that browser-based clients call from script: any origin, no credentials. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'www-authenticate',
};

/** A JSON answer (an endpoint's data, not an error: errors go through src/errors/render.ts). */
export function jsonReply(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpAnswer {
  return jsonTextReply(status, JSON.stringify(body), headers);
}

/** A JSON answer whose text is already serialized (a token response replayed in its grace window). */
export function jsonTextReply(
  status: number,
  text: string,
  headers: Record<string, string> = {},
): HttpAnswer {
  return {
    status,
    headers: { ...BASE_HEADERS, 'content-type': 'application/json', ...headers },
    body: text,
  };
}

export function emptyReply(status: number, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers: { ...BASE_HEADERS, ...headers }, body: '' };
}

/**
 * 303 See Other: after a form POST the browser must follow with a GET and must not resend the
 * form (RFC 9700 §4.12: never 307, which would forward the credentials).
 */
export function seeOther(location: string): HttpAnswer {
  return {
    status: 303,
    headers: { ...BASE_HEADERS, location, 'cache-control': 'no-store' },
    body: '',
  };
}

export function preflightReply(methods: readonly string[]): HttpAnswer {
  return emptyReply(204, {
    ...CORS_HEADERS,
    'access-control-allow-methods': [...methods, 'OPTIONS'].join(', '),
    'access-control-allow-headers': 'authorization, content-type, mcp-protocol-version',
    'access-control-max-age': '600',
  });
}

/**
 * The Web Response for an answer. `cookies` are the Set-Cookie (and other per-request) headers
 * the endpoint's steps added on the way, kept for every answer, errors included. Statuses
 * without a body (204, 304, and any answer to HEAD) get none.
 */
export function toResponse(answer: HttpAnswer, cookies: Headers, head = false): Response {
  const headers = new Headers(cookies);
  for (const [name, value] of Object.entries(answer.headers)) headers.set(name, value);
  const bodyless = head || answer.body === '' || answer.status === 204 || answer.status === 304;
  return new Response(bodyless ? null : answer.body, { status: answer.status, headers });
}

// ---------------------------------------------------------------------------------------------
// Cookies

export interface CookieOptions {
  /** `__Host-` prefix and `Secure` (off only for plain-http loopback development). */
  readonly secure: boolean;
  /** Seconds; omitted: a session cookie. 0 deletes. */
  readonly maxAge?: number;
}

/** The name a cookie gets: `__Host-` prefixed when it is Secure (RFC 6265bis §4.1.3.2). */
export function cookieName(base: string, secure: boolean): string {
  return secure ? `__Host-${base}` : base;
}

/** HttpOnly, SameSite=Lax, Path=/; Secure and `__Host-` unless on plain-http loopback. */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (options.secure) parts.push('Secure');
  if (options.maxAge !== undefined) parts.push(`Max-Age=${options.maxAge}`);
  return parts.join('; ');
}

/** Reads one cookie. A name sent twice counts as absent (someone is playing games). */
export function readCookie(request: Request, name: string): string | undefined {
  const header = request.headers.get('cookie');
  if (header === null) return undefined;
  let found: string | undefined;
  let count = 0;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index === -1) continue;
    if (part.slice(0, index).trim() !== name) continue;
    count++;
    found = part.slice(index + 1).trim();
  }
  return count === 1 && found !== undefined && /^[A-Za-z0-9_-]{16,128}$/.test(found)
    ? found
    : undefined;
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** Reads a request body, refusing it as soon as it exceeds `maxBytes` (413). */
export async function readBody(request: Request, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new RequestError('RequestBodyTooLarge', `the body exceeds ${maxBytes} bytes`);
  }
  if (request.body === null) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new RequestError('RequestBodyTooLarge', `the body exceeds ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
