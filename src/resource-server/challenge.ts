import { isRequestError, type RequestErrorCode } from '../errors/index.ts';
import {
  type Challenge,
  challengeValue,
  type RenderedError,
  renderError,
} from '../errors/render.ts';

export interface ChallengeOptions {
  /** The protected resource metadata URL of the resource asked for (RFC 9728 §5.1). */
  readonly resourceMetadataUrl: string;
  /** Scopes to suggest in a 401 (typically the resource's scopes_supported). */
  readonly scope?: string | readonly string[];
}

/** Codes answered with a Bearer challenge, and the RFC 6750 §3.1 error each carries. */
const CHALLENGED: Readonly<Partial<Record<RequestErrorCode, string | undefined>>> = {
  AuthTokenMissing: undefined,
  AuthInvalidRequest: 'invalid_request',
  AuthTokenInvalid: 'invalid_token',
  AuthTokenExpired: 'invalid_token',
  AuthTokenRevoked: 'invalid_token',
  AuthInvalidIssuer: 'invalid_token',
  AuthInvalidAudience: 'invalid_token',
  AuthMissingScope: 'insufficient_scope',
};

/** A value in the RFC 6750 §3 character set, at most `max` characters. */
function sanitize(value: string, max: number): string {
  return challengeValue(value).slice(0, max);
}

function scopeText(scope: string | readonly string[] | undefined): string {
  const list = scope === undefined ? [] : typeof scope === 'string' ? scope.split(' ') : scope;
  return sanitize(list.filter((item) => item !== '').join(' '), 2000);
}

/**
 * The `WWW-Authenticate: Bearer` challenge for a verification outcome, as rendering data
 * (RFC 6750 §3, RFC 9728 §5.1), or undefined when the error carries none:
 * - no credentials: `resource_metadata="…", scope="…"`, no error code;
 * - invalid, expired, revoked, wrong issuer or audience: `error="invalid_token"`;
 * - insufficient scope: `error="insufficient_scope"` with the scopes the call needs;
 * - malformed Authorization header: `error="invalid_request"`.
 * Descriptions are our own messages, cut to the RFC 6750 character set; never the token.
 */
export function bearerChallenge(error: unknown, options: ChallengeOptions): Challenge | undefined {
  if (!isRequestError(error) || !Object.hasOwn(CHALLENGED, error.code)) return undefined;
  const oauthError = CHALLENGED[error.code];
  const params: [string, string][] = [];
  if (oauthError !== undefined) {
    params.push(['error', oauthError]);
    const description = sanitize(error.expose ? error.message : '', 200);
    if (description !== '') params.push(['error_description', description]);
  }
  const scope =
    error.code === 'AuthMissingScope' ? scopeText(error.details.scope) : scopeText(options.scope);
  if (scope !== '') params.push(['scope', scope]);
  params.push(['resource_metadata', sanitize(options.resourceMetadataUrl, 2000)]);
  return { scheme: 'Bearer', params };
}

/**
 * The resource server's answer to a failed verification: the error rendered with its Bearer
 * challenge (bearerChallenge); other errors render as they are, without one.
 */
export function buildChallenge(error: unknown, options: ChallengeOptions): RenderedError {
  const challenge = bearerChallenge(error, options);
  return renderError(error, challenge === undefined ? {} : { challenge });
}
