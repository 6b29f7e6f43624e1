import { isRequestError, type RenderedError, renderRequestError } from '../errors/index.ts';

export interface ChallengeOptions {
  /** The protected resource metadata URL of the resource asked for (RFC 9728 §5.1). */
  readonly resourceMetadataUrl: string;
  /** Scopes to suggest in a 401 (typically the resource's scopes_supported). */
  readonly scope?: string | readonly string[];
  /**
   * DPoP is on for this resource (RFC 9449 §7.1): a `DPoP algs="…"` challenge is added, and the
   * Bearer one is kept only while Bearer is also accepted (`allowed`, not `required`).
   */
  readonly dpop?: { readonly algorithms: readonly string[]; readonly bearer: boolean };
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
  AuthDpopProofInvalid: 'invalid_dpop_proof',
  AuthDpopNonceRequired: 'use_dpop_nonce',
};

/** Errors about the proof itself are DPoP's whatever scheme was used (RFC 9449 §7.1, §9). */
const DPOP_ERRORS: ReadonlySet<string> = new Set(['AuthDpopProofInvalid', 'AuthDpopNonceRequired']);

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
  const errorParams: string[] = [];
  if (oauthError !== undefined) {
    errorParams.push(`error="${oauthError}"`);
    const description = sanitize(error.expose ? error.message : '');
    if (description !== '') errorParams.push(`error_description="${description}"`);
  }
  const common: string[] = [];
  const scope =
    error.code === 'AuthMissingScope' ? scopeText(error.details.scope) : scopeText(options.scope);
  if (scope !== '') common.push(`scope="${scope}"`);
  common.push(`resource_metadata="${sanitize(options.resourceMetadataUrl, 2000)}"`);
  const dpop = options.dpop;
  if (dpop === undefined) {
    return renderRequestError(error, {
      'www-authenticate': `Bearer ${[...errorParams, ...common].join(', ')}`,
    });
  }
  // The error goes on the scheme the client used; a proof error is always DPoP's.
  const errorScheme =
    DPOP_ERRORS.has(error.code) || !dpop.bearer ? 'DPoP' : (error.details.authScheme ?? 'Bearer');
  const algs = sanitize(dpop.algorithms.join(' '));
  const challenges: string[] = [];
  if (dpop.bearer) {
    challenges.push(
      `Bearer ${[...(errorScheme === 'Bearer' ? errorParams : []), ...common].join(', ')}`,
    );
  }
  challenges.push(
    `DPoP ${[`algs="${algs}"`, ...(errorScheme === 'DPoP' ? errorParams : []), ...common].join(', ')}`,
  );
  const headers: Record<string, string> = { 'www-authenticate': challenges.join(', ') };
  const nonce = error.details.dpopNonce;
  // RFC 9449 §9: the nonce to use travels in DPoP-Nonce beside the use_dpop_nonce challenge.
  if (nonce !== undefined && nonce !== '') headers['dpop-nonce'] = nonce;
  return renderRequestError(error, headers);
}
