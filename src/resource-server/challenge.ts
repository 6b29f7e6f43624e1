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
  /**
   * DPoP is on for this resource (RFC 9449 §7.1): a `DPoP algs="…"` challenge is added, and the
   * Bearer one is kept only while Bearer is also accepted (`allowed`, not `required`).
   */
  readonly dpop?: { readonly algorithms: readonly string[]; readonly bearer: boolean };
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
  AuthDpopProofInvalid: 'invalid_dpop_proof',
  AuthDpopNonceRequired: 'use_dpop_nonce',
};

/** Errors about the proof itself are DPoP's whatever scheme was used (RFC 9449 §7.1, §9). */
const DPOP_ERRORS: ReadonlySet<string> = new Set(['AuthDpopProofInvalid', 'AuthDpopNonceRequired']);

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
  const parts = challengeParts(error, options);
  return parts && { scheme: 'Bearer', params: [...parts.error, ...parts.common] };
}

function challengeParts(
  error: unknown,
  options: ChallengeOptions,
): { error: [string, string][]; common: [string, string][] } | undefined {
  if (!isRequestError(error) || !Object.hasOwn(CHALLENGED, error.code)) return undefined;
  const oauthError = CHALLENGED[error.code];
  const errorParams: [string, string][] = [];
  if (oauthError !== undefined) {
    errorParams.push(['error', oauthError]);
    const description = sanitize(error.expose ? error.message : '', 200);
    if (description !== '') errorParams.push(['error_description', description]);
  }
  const common: [string, string][] = [];
  const scope =
    error.code === 'AuthMissingScope' ? scopeText(error.details.scope) : scopeText(options.scope);
  if (scope !== '') common.push(['scope', scope]);
  common.push(['resource_metadata', sanitize(options.resourceMetadataUrl, 2000)]);
  return { error: errorParams, common };
}

/**
 * The challenges of a resource (RFC 9110 §11.6.1 allows several): Bearer alone without DPoP;
 * with DPoP (RFC 9449 §7.1) a `DPoP algs="…"` challenge, beside Bearer while Bearer is also
 * accepted. The error goes on the scheme the client used (`details.authScheme`, set by
 * presentation.ts); a proof error is always DPoP's. Undefined when the error carries none.
 */
export function resourceChallenges(
  error: unknown,
  options: ChallengeOptions,
): Challenge[] | undefined {
  const parts = challengeParts(error, options);
  if (parts === undefined || !isRequestError(error)) return undefined;
  const dpop = options.dpop;
  if (dpop === undefined) return [{ scheme: 'Bearer', params: [...parts.error, ...parts.common] }];
  const errorScheme =
    DPOP_ERRORS.has(error.code) || !dpop.bearer ? 'DPoP' : (error.details.authScheme ?? 'Bearer');
  const challenges: Challenge[] = [];
  if (dpop.bearer) {
    challenges.push({
      scheme: 'Bearer',
      params: [...(errorScheme === 'Bearer' ? parts.error : []), ...parts.common],
    });
  }
  challenges.push({
    scheme: 'DPoP',
    params: [
      ['algs', sanitize(dpop.algorithms.join(' '), 200)],
      ...(errorScheme === 'DPoP' ? parts.error : []),
      ...parts.common,
    ],
  });
  return challenges;
}

/**
 * The resource server's answer to a failed verification: the error rendered with its
 * challenges (resourceChallenges), and a `DPoP-Nonce` when a nonce is asked for (RFC 9449 §9,
 * added by the renderer); other errors render as they are, without one.
 */
export function buildChallenge(error: unknown, options: ChallengeOptions): RenderedError {
  const challenge = resourceChallenges(error, options);
  return renderError(error, challenge === undefined ? {} : { challenge });
}
