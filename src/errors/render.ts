import { html } from '../lib/html.ts';
import { htmlPage } from '../lib/html-page.ts';
import type { HttpAnswer } from '../lib/http-answer.ts';
import { REQUEST_ERRORS } from './codes.ts';
import { type ClientError, type ConfigError, RequestError } from './portcullis-error.ts';

/**
 * The one place request errors become HTTP answers: the gateway, the resource server, the
 * authorization server and the admin listener all render through `renderError`. The status,
 * the OAuth error code and the summary come from the catalogue (codes.ts); the headers
 * (WWW-Authenticate, Retry-After, Allow, Cache-Control, CORS) and the body are built here from
 * the error and the rendering data the caller adds:
 *
 *   renderError(error, {
 *     form,        // how the error is shown (below); default 'json'
 *     challenge,   // the WWW-Authenticate challenge, as data (RFC 9110 §11.6.1)
 *     cors,        // CORS response headers the caller's origin policy allows
 *     headers,     // anything else the answer must carry (a request id, an Allow override)
 *   })
 *
 * Forms, all of the same catalogue entry:
 * - 'json'     the gateway's JSON error: `{error, error_description, code}` where `error` is the
 *              RFC 6750 §3.1 / RFC 6749 §5.2 code, or the snake_case catalogue code;
 * - 'oauth'    an authorization-server endpoint's JSON error (RFC 6749 §5.2): `error` is an
 *              OAuth code (`server_error` for an internal failure), the description is limited
 *              to the RFC 6749 character set, `Pragma: no-cache` as §5.1 asks;
 * - 'page'     an HTML page shown to a person, when sending the error to the client is unsafe
 *              or impossible (RFC 6749 §4.1.2.1); a 401 becomes 400 there (no challenge);
 * - redirect   the error sent back to a validated redirect URI with `state` and, per RFC 9207
 *              §2, `iss` (RFC 6749 §4.1.2.1): a 303 whose Location carries them.
 *
 * Anything that is not a RequestError renders as an unexposed InternalError: its message stays
 * in the log, never in the answer.
 */

/** A rendered HTTP error, independent of any server library. */
export type RenderedError = HttpAnswer;

/** An HTTP authentication challenge as data; rendered into one WWW-Authenticate value. */
export interface Challenge {
  readonly scheme: 'Bearer' | 'Basic';
  /** auth-params in order; values are quoted and cut to the RFC 6750 §3 character set. */
  readonly params: readonly (readonly [name: string, value: string])[];
}

/** Where an authorization error goes back to (RFC 6749 §4.1.2.1, RFC 9207 §2). */
export interface ErrorRedirect {
  readonly kind: 'redirect';
  /** A redirect URI already validated against the client's registration. */
  readonly redirectUri: string;
  readonly state: string | undefined;
  readonly issuer: string;
}

export type ErrorForm = 'json' | 'oauth' | 'page' | ErrorRedirect;

export interface RenderOptions {
  readonly form?: ErrorForm;
  readonly challenge?: Challenge;
  readonly cors?: Readonly<Record<string, string>>;
  /** Extra headers; they override the rendered ones (as renderRequestError always allowed). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Every error as a RequestError; anything else becomes an unexposed InternalError. */
export function asRequestError(error: unknown): RequestError {
  return error instanceof RequestError
    ? error
    : new RequestError('InternalError', 'internal error', { expose: false, cause: error });
}

/** Renders an error in one of its forms. See the module comment for the options. */
export function renderError(error: unknown, options: RenderOptions = {}): RenderedError {
  const known = asRequestError(error);
  const form = options.form ?? 'json';
  if (typeof form === 'object') return renderRedirect(known, form, options);
  const headers: Record<string, string> = {};
  const retryAfter = retryAfterOf(known);
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  const allow = known.details.allow;
  if (allow !== undefined && known.status === 405) headers.allow = allow;
  if (form === 'page') return renderPage(known, { ...headers, ...(options.headers ?? {}) });
  if (options.challenge !== undefined) {
    headers['www-authenticate'] = formatChallenge(options.challenge);
  }
  if (form === 'oauth') {
    return {
      status: known.status,
      headers: {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        pragma: 'no-cache',
        'x-content-type-options': 'nosniff',
        ...headers,
        ...(options.cors ?? {}),
        ...(options.headers ?? {}),
      },
      body: JSON.stringify({
        error: oauthErrorCode(known),
        error_description: oauthDescription(known),
        code: known.code,
      }),
    };
  }
  return {
    status: known.status,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      ...headers,
      ...(options.cors ?? {}),
      ...(options.headers ?? {}),
    },
    body: JSON.stringify({
      error: REQUEST_ERRORS[known.code].oauth ?? snakeCase(known.code),
      error_description: known.expose ? known.message : REQUEST_ERRORS[known.code].summary,
      code: known.code,
    }),
  };
}

/**
 * The gateway's JSON form with extra headers: `renderError(error, { headers: extraHeaders })`.
 * Kept for the callers that pass a ready WWW-Authenticate value; new code passes a Challenge.
 */
export function renderRequestError(
  error: unknown,
  extraHeaders: Record<string, string> = {},
): RenderedError {
  return renderError(error, { headers: extraHeaders });
}

/** One WWW-Authenticate value: `Scheme name="value", …` (RFC 9110 §11.6.1, RFC 6750 §3). */
export function formatChallenge(challenge: Challenge): string {
  const params = challenge.params.map(([name, value]) => `${name}="${challengeValue(value)}"`);
  return params.length === 0 ? challenge.scheme : `${challenge.scheme} ${params.join(', ')}`;
}

/** The OAuth `error` value (RFC 6749 §5.2); internal failures are `server_error`. */
export function oauthErrorCode(error: RequestError): string {
  if (error.status >= 500 && REQUEST_ERRORS[error.code].oauth === undefined) return 'server_error';
  return REQUEST_ERRORS[error.code].oauth ?? snakeCase(error.code);
}

/**
 * RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E, so quotes and
 * backslashes are replaced and anything else dropped.
 */
export function oauthDescription(error: RequestError): string {
  const text = error.expose ? error.message : REQUEST_ERRORS[error.code].summary;
  return text
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7E]/g, '')
    .slice(0, 300);
}

/**
 * RFC 6585 §4 / RFC 9110 §10.2.3: a 429 or 503 says when to come back, from the error's
 * `retryAfter` detail; a 429 without one says a minute.
 */
function retryAfterOf(error: RequestError): string | undefined {
  if (error.status !== 429 && error.status !== 503) return undefined;
  return error.details.retryAfter ?? (error.status === 429 ? '60' : undefined);
}

function renderPage(error: RequestError, headers: Record<string, string>): RenderedError {
  // A page is not an HTTP authentication challenge: a 401 without WWW-Authenticate would break
  // RFC 9110 §15.5.2, so client errors shown to a person are 400.
  const status = error.status === 401 ? 400 : error.status;
  const body = html`<h1>This request cannot continue</h1>
<p class="error" role="alert">${oauthDescription(error)}</p>
<p>Error: <code>${oauthErrorCode(error)}</code></p>
<p>Return to the application and start again.</p>`;
  return htmlPage(body, { title: 'Authorization error', status, headers });
}

function renderRedirect(
  error: RequestError,
  target: ErrorRedirect,
  options: RenderOptions,
): RenderedError {
  const url = new URL(target.redirectUri);
  url.searchParams.append('error', oauthErrorCode(error));
  url.searchParams.append('error_description', oauthDescription(error));
  if (target.state !== undefined) url.searchParams.append('state', target.state);
  url.searchParams.append('iss', target.issuer);
  // 303: the browser follows with a GET and never resends a form (RFC 9700 §4.12).
  return {
    status: 303,
    headers: {
      ...(options.headers ?? {}),
      location: url.href,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body: '',
  };
}

/** RFC 6750 §3: auth-param values use %x20-21 / %x23-5B / %x5D-7E only; the rest is dropped. */
export function challengeValue(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** The one place configuration and usage errors become text for a terminal. */
export function formatConfigError(error: ConfigError): string {
  const where = error.source ? ` in ${error.source}` : '';
  const count = error.issues.length;
  const lines = [
    `portcullis: ${error.code}${where}: ${count} problem${count === 1 ? '' : 's'} found`,
  ];
  for (const issue of error.issues) {
    const path = issue.path ? `${issue.path}: ` : '';
    lines.push(`  - ${path}${issue.message}`);
    if (issue.fix) lines.push(`    fix: ${issue.fix}`);
  }
  return lines.join('\n');
}

/** The one place client errors become text for a terminal: code, message and the fix. */
export function formatClientError(error: ClientError): string {
  const lines = [`portcullis: ${error.code}: ${error.message}`];
  if (error.fix) lines.push(`  fix: ${error.fix}`);
  return lines.join('\n');
}

function snakeCase(code: string): string {
  return code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
