import { isRequestError, type RenderedError, renderRequestError } from '../errors/index.ts';

export interface ChallengeOptions {
  /** The protected resource metadata URL of the resource asked for (RFC 9728 §5.1). */
  readonly resourceMetadataUrl: string;
  /** Scopes to suggest in a 401 (typically the resource's scopes_supported). */
  readonly scope?: string | readonly string[];
}

/** Codes answered with a Bearer challenge, and the RFC 6750 §3.1 error each carries. */
const CHALLENGED: Readonly<Record<string, string | undefined>> = {
  AuthTokenMissing: undefined,
  AuthInvalidRequest: 'invalid_request',
  AuthTokenInvalid: 'invalid_token',
  AuthTokenExpired: 'invalid_token',
  AuthTokenRevoked: 'invalid_token',
  AuthInvalidIssuer: 'invalid_token',
  AuthInvalidAudience: 'invalid_token',
  AuthMissingScope: 'insufficient_scope',
};

/** RFC 6750 §3: error_description and scope values use %x20-21 / %x23-5B / %x5D-7E only. */
function sanitize(value: string, max = 200): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '').slice(0, max);
}

function scopeText(scope: string | readonly string[] | undefined): string {
  const list = scope === undefined ? [] : typeof scope === 'string' ? scope.split(' ') : scope;
  return sanitize(list.filter((item) => item !== '').join(' '), 2000);
}

/**
 * The one place that turns a verification outcome into an HTTP answer with its
 * `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9728 §5.1):
 * - no credentials: 401 `Bearer resource_metadata="…", scope="…"`, no error code;
 * - invalid, expired, revoked, wrong issuer or audience: 401 `error="invalid_token"`;
 * - insufficient scope: 403 `error="insufficient_scope"` with the scopes the call needs;
 * - malformed Authorization header: 400 `error="invalid_request"`.
 * Other errors render as they are, without a challenge. Descriptions are our own messages,
 * sanitized to the RFC 6750 character set; they never contain the token.
 */
export function buildChallenge(error: unknown, options: ChallengeOptions): RenderedError {
  if (!isRequestError(error) || !(error.code in CHALLENGED)) return renderRequestError(error);
  const oauthError = CHALLENGED[error.code];
  const params: string[] = [];
  if (oauthError !== undefined) {
    params.push(`error="${oauthError}"`);
    const description = sanitize(error.expose ? error.message : '');
    if (description !== '') params.push(`error_description="${description}"`);
  }
  const scope =
    error.code === 'AuthMissingScope' ? scopeText(error.details.scope) : scopeText(options.scope);
  if (scope !== '') params.push(`scope="${scope}"`);
  params.push(`resource_metadata="${sanitize(options.resourceMetadataUrl, 2000)}"`);
  return renderRequestError(error, { 'www-authenticate': `Bearer ${params.join(', ')}` });
}
