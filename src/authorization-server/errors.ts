import { REQUEST_ERRORS, RequestError, renderRequestError } from '../errors/index.ts';
import { NO_STORE } from './http.ts';
import { errorPage } from './views/pages.ts';

/** Every error as a RequestError; anything else becomes an unexposed InternalError. */
export function asRequestError(error: unknown): RequestError {
  return error instanceof RequestError
    ? error
    : new RequestError('InternalError', 'internal error', { expose: false, cause: error });
}

/** The OAuth `error` value (RFC 6749 §5.2); internal failures are `server_error`. */
export function oauthErrorCode(error: RequestError): string {
  if (error.status >= 500 && REQUEST_ERRORS[error.code].oauth === undefined) return 'server_error';
  return (
    REQUEST_ERRORS[error.code].oauth ??
    error.code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()
  );
}

/**
 * RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E, so quotes and
 * backslashes are replaced and anything else dropped.
 */
export function safeDescription(error: RequestError): string {
  const text = error.expose ? error.message : REQUEST_ERRORS[error.code].summary;
  return text
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7E]/g, '')
    .slice(0, 300);
}

export interface JsonErrorOptions {
  /** Challenge for a bearer credential (registration's initial access token, RFC 6750 §3). */
  readonly bearerChallenge?: boolean;
  readonly realm?: string;
  readonly headers?: Record<string, string>;
}

/** Errors of the token, registration, revocation and introspection endpoints: JSON, no-store. */
export function jsonError(error: unknown, options: JsonErrorOptions = {}): Response {
  const known = asRequestError(error);
  const rendered = renderRequestError(known);
  const body = {
    ...(JSON.parse(rendered.body) as Record<string, string>),
    error: oauthErrorCode(known),
    error_description: safeDescription(known),
  };
  const headers: Record<string, string> = {
    ...rendered.headers,
    ...NO_STORE,
    'x-content-type-options': 'nosniff',
    ...(options.headers ?? {}),
  };
  const realm = (options.realm ?? 'portcullis').replace(/["\\]/g, '');
  if (known.status === 401 && options.bearerChallenge) {
    const code = REQUEST_ERRORS[known.code].oauth;
    headers['www-authenticate'] =
      code === undefined ? `Bearer realm="${realm}"` : `Bearer realm="${realm}", error="${code}"`;
  } else if (known.status === 401) {
    // RFC 6749 §5.2: a 401 for client authentication challenges with the scheme it accepts.
    headers['www-authenticate'] = `Basic realm="${realm}"`;
  }
  if (known.code === 'RateLimited' || known.code === 'LoginThrottled') {
    headers['retry-after'] = known.details.retryAfter ?? '60';
  }
  return new Response(JSON.stringify(body), { status: known.status, headers });
}

/** Errors shown to the user because sending them to the client is unsafe or impossible. */
export function pageError(error: unknown, headers?: Headers): Response {
  const known = asRequestError(error);
  const out = new Headers(headers);
  if (known.code === 'RateLimited' || known.code === 'LoginThrottled') {
    out.set('retry-after', known.details.retryAfter ?? '60');
  }
  // A page is not an HTTP authentication challenge: a 401 without WWW-Authenticate would break
  // RFC 9110 §15.5.2, so client errors shown to a person are 400.
  const status = known.status === 401 ? 400 : known.status;
  return errorPage(status, oauthErrorCode(known), safeDescription(known), out);
}

/**
 * An authorization error sent back to a validated redirect URI (RFC 6749 §4.1.2.1), with
 * `state` and, per RFC 9207 §2, `iss`.
 */
export function redirectError(
  redirectUri: string,
  state: string | undefined,
  issuer: string,
  error: unknown,
): string {
  const known = asRequestError(error);
  const url = new URL(redirectUri);
  url.searchParams.append('error', oauthErrorCode(known));
  url.searchParams.append('error_description', safeDescription(known));
  if (state !== undefined) url.searchParams.append('state', state);
  url.searchParams.append('iss', issuer);
  return url.href;
}
