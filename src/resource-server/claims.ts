import { MAX_CLOCK_SKEW_SECONDS } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';

/*
 * Claim rules shared by JWT verification and introspection. Times are whole seconds; the
 * comparisons follow jose's (RFC 7519 §4.1.4–4.1.6): a token is expired when
 * `exp <= now - skew`, not yet valid when `nbf > now + skew`.
 */

export interface ClaimPolicy {
  readonly issuer: string;
  readonly audiences: ReadonlySet<string>;
  readonly allowedScopes: ReadonlySet<string>;
  /** Already clamped to MAX_CLOCK_SKEW_SECONDS. */
  readonly skewSeconds: number;
  readonly maxLifetimeSeconds: number | undefined;
}

/** Leeway for exp/nbf/iat when none is configured, in seconds. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/**
 * The claim policy both verifiers (JWT and introspection) apply. The skew is clamped here in code
 * as well, whatever the config said (defence in depth behind the config check): never more than
 * 300 s, never negative, a non-finite value taken as the maximum.
 */
export function claimPolicyOf(options: {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly clockSkewSeconds?: number | undefined;
  readonly maxTokenLifetimeSeconds?: number | undefined;
}): ClaimPolicy {
  const requestedSkew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  const skewSeconds = Number.isFinite(requestedSkew)
    ? Math.min(Math.max(0, Math.floor(requestedSkew)), MAX_CLOCK_SKEW_SECONDS)
    : MAX_CLOCK_SKEW_SECONDS;
  return Object.freeze({
    issuer: options.issuer,
    audiences: new Set(options.audiences),
    allowedScopes: new Set(options.allowedScopes),
    skewSeconds,
    maxLifetimeSeconds: options.maxTokenLifetimeSeconds,
  });
}

export interface CheckedClaims {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
  readonly audience: string;
  readonly expiresAt: number;
}

export const invalid = (message: string) =>
  new RequestError('AuthTokenInvalid', message, { expose: true });
export const expired = (message: string) =>
  new RequestError('AuthTokenExpired', message, { expose: true });

function optionalString(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A NumericDate (RFC 7519 §2): a finite JSON number. Undefined when absent. */
function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`the "${name}" claim is not a number`);
  }
  return value;
}

export function checkIssuer(claims: Record<string, unknown>, policy: ClaimPolicy): void {
  // RFC 8725 §3.8: exact string comparison, no normalization.
  if (claims.iss !== policy.issuer) {
    throw new RequestError('AuthInvalidIssuer', 'the token was issued by another issuer', {
      expose: true,
    });
  }
}

/** RFC 7519 §4.1.3 / RFC 8707: `aud` is required and must name one of our resources. */
export function checkAudience(claims: Record<string, unknown>, policy: ClaimPolicy): string {
  const aud = claims.aud;
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  for (const entry of list) {
    if (typeof entry === 'string' && policy.audiences.has(entry)) return entry;
  }
  throw new RequestError('AuthInvalidAudience', 'the token is not meant for this resource', {
    expose: true,
  });
}

/** exp (required integer), nbf, iat and the optional maximum lifetime. Returns exp. */
export function checkTimes(
  claims: Record<string, unknown>,
  policy: ClaimPolicy,
  nowSeconds: number,
): number {
  const exp = numericDate(claims, 'exp');
  if (exp === undefined) throw invalid('the token has no "exp" claim');
  if (!Number.isSafeInteger(exp)) throw invalid('the "exp" claim is not an integer');
  const nbf = numericDate(claims, 'nbf');
  const iat = numericDate(claims, 'iat');
  const skew = policy.skewSeconds;
  if (exp <= nowSeconds - skew) throw expired('the token has expired');
  if (nbf !== undefined && nbf > nowSeconds + skew) throw expired('the token is not valid yet');
  if (iat !== undefined && iat > nowSeconds + skew)
    throw invalid('the token was issued in the future');
  const max = policy.maxLifetimeSeconds;
  if (max !== undefined) {
    if (iat !== undefined && exp - iat > max) {
      throw invalid('the token lifetime exceeds the configured maximum');
    }
    if (exp - nowSeconds > max + skew) {
      throw invalid('the token expires further ahead than the configured maximum lifetime');
    }
  }
  return exp;
}

/**
 * Scopes from `scope` (space-delimited, RFC 6749 §3.3 / RFC 9068 §2.2.3) or else `scp` (an array,
 * or a space-delimited string as some providers send), intersected with the allowed scopes.
 * Matching is exact and case-sensitive; an unexpected shape is refused rather than guessed at.
 */
export function grantedScopes(
  claims: Record<string, unknown>,
  policy: ClaimPolicy,
): readonly string[] {
  const source = claims.scope !== undefined ? claims.scope : claims.scp;
  let requested: readonly unknown[];
  if (source === undefined) requested = [];
  else if (typeof source === 'string') requested = source.split(' ');
  else if (Array.isArray(source)) requested = source;
  else throw invalid('the scope claim has an unexpected type');
  const granted: string[] = [];
  for (const scope of requested) {
    if (typeof scope !== 'string') throw invalid('the scope claim has an unexpected type');
    if (policy.allowedScopes.has(scope) && !granted.includes(scope)) granted.push(scope);
  }
  return Object.freeze(granted);
}

/** Tokens bound to a key (RFC 9449 DPoP, RFC 8705 mTLS) cannot be honoured as plain bearer. */
export function refuseSenderConstrained(claims: Record<string, unknown>): void {
  if (claims.cnf !== undefined) {
    throw invalid('the token is sender-constrained (cnf), which this resource does not support');
  }
}

/** `client_id` (RFC 9068 §2.2), else `azp`. */
export function clientIdOf(claims: Record<string, unknown>): string | undefined {
  return optionalString(claims, 'client_id') ?? optionalString(claims, 'azp');
}

export { optionalString };
