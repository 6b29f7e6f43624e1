import { createSecretKey } from 'node:crypto';
import { compactVerify } from 'jose';
import { ASYMMETRIC_ALGORITHMS } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import { publishVerification } from '../lib/channels.ts';
import { deepFreeze } from '../lib/deep-freeze.ts';
import type { Logger } from '../lib/log.ts';
import {
  boundKeyOf,
  type ClaimPolicy,
  checkAudience,
  checkIssuer,
  checkTimes,
  claimPolicyOf,
  clientIdOf,
  expired,
  grantedScopes,
  invalid,
} from './claims.ts';
import {
  decodeBase64urlStrict,
  isCanonicalBase64url,
  parseStrictJsonObject,
} from './jose-segments.ts';
import type { VerificationKey } from './key-set.ts';
import type { KeySource } from './key-source.ts';
import { LruCache } from './lru-cache.ts';
import { tokenCacheKey, tokenIdHash } from './token-id.ts';
import type { AccessTokenVerifier, VerifiedToken } from './verifier.ts';

/** The policy every access token is held to. Every field without `?` is mandatory. */
export interface AccessTokenPolicy {
  /** Expected `iss`, compared exactly. */
  readonly issuer: string;
  /** Accepted audiences; the token's `aud` must contain one. Never empty. */
  readonly audiences: readonly string[];
  /** Accepted JWS algorithms; asymmetric only, never empty. */
  readonly algorithms: readonly string[];
  /** Secret for the token-id HMAC, at least 32 bytes. */
  readonly tokenIdSecret: Uint8Array;
  /** Scopes the gateway honours; token scopes outside it are ignored. */
  readonly allowedScopes: readonly string[];
  /** Leeway for exp/nbf/iat in seconds; default 60, clamped to 300 whatever is passed. */
  readonly clockSkewSeconds?: number;
  /** Longest token accepted, in characters; default 8192. Checked before any other work. */
  readonly maxTokenLength?: number;
  /** When set, `exp - iat` and `exp - now` may not exceed it. */
  readonly maxTokenLifetimeSeconds?: number;
  /** Require header `typ` `at+jwt` (RFC 9068 §4). Off by default: many providers omit it. */
  readonly requireAtJwtTyp?: boolean;
  /**
   * Accept DPoP-bound tokens (`cnf.jkt`, RFC 9449 §6) and report the key in `boundKey`. Off by
   * default: then any `cnf` is refused, since a bound token must never pass as bearer.
   */
  readonly acceptDpopBound?: boolean;
}

export interface AccessTokenVerifierOptions extends AccessTokenPolicy {
  /** Where the verification keys come from (remote JWKS, or a fixed set). */
  readonly keys: KeySource;
  /** Verified-token cache; default 10 000 entries for at most 300 s each. `false` disables. */
  readonly cache?: { readonly maxEntries?: number; readonly ttlSeconds?: number } | false;
  /** Clock in ms since the epoch; for tests. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
export { DEFAULT_CLOCK_SKEW_SECONDS } from './claims.ts';
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;
export const DEFAULT_TOKEN_CACHE_TTL_SECONDS = 300;
export const MIN_TOKEN_ID_SECRET_BYTES = 32;

/** Three base64url segments and nothing else (RFC 7515 §7.1 compact serialization). */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** RFC 9068 §4 `typ`, compared case-insensitively with an optional `application/` prefix. */
const AT_JWT = /^(application\/)?at\+jwt$/i;
const PLAIN_JWT = /^(application\/)?jwt$/i;

interface CacheEntry {
  readonly token: VerifiedToken;
  readonly key: VerificationKey;
}

/** The verifier for JWT access tokens, with what a caller may want besides `verify`. */
export interface JwtAccessTokenVerifier extends AccessTokenVerifier {
  /** Loads the key set now, so the first request does not wait. Rejects with AuthUnavailable. */
  warm(): Promise<void>;
}

function requireNonEmpty(name: string, value: readonly unknown[] | undefined): void {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`${name} is required and may not be empty`);
  }
}

/**
 * Builds the JWT access-token verifier. Throws TypeError when the policy is incomplete: no
 * issuer, no audience, no algorithm, a non-asymmetric algorithm, or a short token-id secret.
 *
 * Order of work for a token: length cap; cache hit (re-checking expiry and that the signing key
 * is still published); shape (three canonical base64url segments); header (strict JSON, `alg`
 * from the allow-list, no `crit`/`b64`/`cty`, `typ` policy); key by `kid` and `alg` (refetch on
 * an unknown key, within the cool-down); signature (jose); only then the claims.
 */
export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): JwtAccessTokenVerifier {
  if (typeof options.issuer !== 'string' || options.issuer === '') {
    throw new TypeError('issuer is required');
  }
  requireNonEmpty('audiences', options.audiences);
  requireNonEmpty('algorithms', options.algorithms);
  for (const alg of options.algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(`algorithm ${String(alg)} is not an accepted asymmetric JWS algorithm`);
    }
  }
  if (
    !(options.tokenIdSecret instanceof Uint8Array) ||
    options.tokenIdSecret.length < MIN_TOKEN_ID_SECRET_BYTES
  ) {
    throw new TypeError(`tokenIdSecret must be at least ${MIN_TOKEN_ID_SECRET_BYTES} bytes`);
  }
  if (!Array.isArray(options.allowedScopes)) throw new TypeError('allowedScopes is required');
  if (options.keys === undefined) throw new TypeError('keys (a key source) is required');

  const secret = createSecretKey(Uint8Array.from(options.tokenIdSecret));
  const algorithms = new Set(options.algorithms);
  const policy: ClaimPolicy = claimPolicyOf(options);
  const maxLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const requireAtJwt = options.requireAtJwtTyp === true;
  const acceptDpopBound = options.acceptDpopBound === true;
  const keys = options.keys;
  const now = options.now ?? Date.now;
  const cacheTtlMs =
    options.cache === false
      ? 0
      : (options.cache?.ttlSeconds ?? DEFAULT_TOKEN_CACHE_TTL_SECONDS) * 1000;
  const cache = new LruCache<CacheEntry>(
    options.cache === false || cacheTtlMs <= 0
      ? 0
      : (options.cache?.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES),
  );

  function typAccepted(typ: unknown): boolean {
    if (typ === undefined) return !requireAtJwt;
    if (typeof typ !== 'string') return false;
    return AT_JWT.test(typ) || (!requireAtJwt && PLAIN_JWT.test(typ));
  }

  function checkHeader(segment: string): { alg: string; kid: string | undefined } {
    const bytes = decodeBase64urlStrict(segment);
    const header = bytes && parseStrictJsonObject(bytes);
    if (!header) throw invalid('the token header is not a strict JSON object');
    const { alg, kid, typ } = header;
    // RFC 8725 §3.1: the algorithm list is ours; `none` and HS* are never in it.
    if (typeof alg !== 'string' || !algorithms.has(alg)) {
      throw invalid('the token algorithm is not accepted');
    }
    if (kid !== undefined && typeof kid !== 'string')
      throw invalid('the token "kid" is not a string');
    // No extensions are understood, so none may be critical (RFC 7515 §4.1.11); no unencoded
    // payloads (RFC 7797) and no nested tokens (RFC 8725 §3.3 via `cty`).
    if ('crit' in header || 'b64' in header || 'cty' in header) {
      throw invalid('the token header uses crit, b64 or cty, which are not accepted');
    }
    // RFC 8725 §3.11 / RFC 9068 §4. With the policy off, a type other than plain JWT or
    // at+jwt (say dpop+jwt, or a logout token) still marks a token that is not an access token.
    if (!typAccepted(typ)) throw invalid('the token type (typ) is not accepted');
    // jwk, jku, x5u, x5c, x5t in the header are ignored: keys come only from our key source.
    return { alg, kid };
  }

  async function selectKey(alg: string, kid: string | undefined): Promise<VerificationKey> {
    let selection = (await keys.get()).select(kid, alg);
    if (selection.found === undefined && selection.reason === 'none') {
      selection = (await keys.refreshForUnknownKey()).select(kid, alg);
    }
    if (selection.found === undefined) {
      throw invalid(
        selection.reason === 'ambiguous'
          ? 'more than one published key matches the token'
          : 'no published key matches the token',
      );
    }
    return selection.found;
  }

  async function verifyCold(
    token: string,
    cacheKey: string,
    nowMs: number,
  ): Promise<VerifiedToken> {
    if (!JWT_SHAPE.test(token)) throw invalid('the token is not a compact JWS');
    const firstDot = token.indexOf('.');
    const lastDot = token.lastIndexOf('.');
    // One spelling per token: no two strings may carry the same signed bytes.
    if (
      !isCanonicalBase64url(token.slice(firstDot + 1, lastDot)) ||
      !isCanonicalBase64url(token.slice(lastDot + 1))
    ) {
      throw invalid('the token is not canonical base64url');
    }
    const { alg, kid } = checkHeader(token.slice(0, firstDot));
    const key = await selectKey(alg, kid);

    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(token, key.key, { algorithms: [alg] }));
    } catch (cause) {
      throw new RequestError('AuthTokenInvalid', 'the token signature does not verify', {
        expose: true,
        cause,
      });
    }
    // The signature holds; the claims may now be read (RFC 8725 §3.10: verify before trusting).
    const claims = parseStrictJsonObject(payloadBytes);
    if (!claims) throw invalid('the token payload is not a strict JSON object');
    const nowSeconds = Math.floor(nowMs / 1000);
    checkIssuer(claims, policy);
    const audience = checkAudience(claims, policy);
    const expiresAt = checkTimes(claims, policy, nowSeconds);
    const boundKey = boundKeyOf(claims, acceptDpopBound);
    const { sub, jti } = claims;
    if (typeof sub !== 'string' || sub === '') throw invalid('the token has no "sub" claim');
    if (jti !== undefined && typeof jti !== 'string')
      throw invalid('the "jti" claim is not a string');
    const verified: VerifiedToken = Object.freeze({
      subject: sub,
      clientId: clientIdOf(claims),
      scopes: grantedScopes(claims, policy),
      audience,
      expiresAt,
      tokenIdHash: tokenIdHash(secret, jti, token),
      claims: deepFreeze(claims),
      ...(boundKey === undefined ? {} : { boundKey }),
    });
    // Kept until the earlier of the token's expiry (with the same skew a cold check allows)
    // and the cache TTL.
    cache.set(
      cacheKey,
      { token: verified, key },
      Math.min((expiresAt + policy.skewSeconds) * 1000, nowMs + cacheTtlMs),
      nowMs,
    );
    return verified;
  }

  /**
   * The cache's answer, synchronously: the verified token, or where a cold check must start.
   * Throws what a hit decides (an expired token); `answered.cached` says whether it decided.
   */
  function fromCache(
    token: string,
    answered: { cached: boolean },
  ): { verified: VerifiedToken } | { cacheKey: string; nowMs: number } {
    if (typeof token !== 'string' || token.length === 0) throw invalid('no token');
    if (token.length > maxLength) throw invalid('the token is longer than accepted');
    const nowMs = now();
    const cacheKey = tokenCacheKey(token);
    const hit = cache.get(cacheKey, nowMs);
    if (hit !== undefined) {
      answered.cached = true;
      // A hit is only as good as a cold check would be now: expiry, and the key still published.
      if (hit.token.expiresAt <= Math.floor(nowMs / 1000) - policy.skewSeconds) {
        cache.delete(cacheKey);
        throw expired('the token has expired');
      }
      if (keys.snapshot()?.has(hit.key)) return { verified: hit.token };
      cache.delete(cacheKey);
      answered.cached = false;
    }
    return { cacheKey, nowMs };
  }

  return {
    // Not an async function: a cached token (nearly every request) is answered with one
    // settled promise, not a chain of them.
    verify(token: string): Promise<VerifiedToken> {
      const answered = { cached: false };
      let cached: ReturnType<typeof fromCache>;
      try {
        cached = fromCache(token, answered);
      } catch (error) {
        publishVerification(error, answered.cached);
        return Promise.reject(error);
      }
      if ('verified' in cached) {
        publishVerification('ok', true);
        return Promise.resolve(cached.verified);
      }
      return verifyCold(token, cached.cacheKey, cached.nowMs).then(
        (verified) => {
          publishVerification('ok', false);
          return verified;
        },
        (error: unknown) => {
          publishVerification(error, false);
          throw error;
        },
      );
    },
    async warm() {
      await keys.get();
    },
  };
}
