import { createSecretKey } from 'node:crypto';
import { RequestError } from '../errors/index.ts';
import { publishVerification } from '../lib/channels.ts';
import { deepFreeze } from '../lib/deep-freeze.ts';
import type { Logger } from '../lib/log.ts';
import { parseStrictJson } from '../lib/strict-json.ts';
import type { GuardedFetch } from '../net/index.ts';
import {
  boundKeyOf,
  type ClaimPolicy,
  checkAudience,
  checkTimes,
  claimPolicyOf,
  clientIdOf,
  grantedScopes,
  invalid,
  optionalString,
} from './claims.ts';
import {
  DEFAULT_MAX_TOKEN_LENGTH,
  DEFAULT_TOKEN_CACHE_ENTRIES,
  MIN_TOKEN_ID_SECRET_BYTES,
} from './jwt-verifier.ts';
import { LruCache } from './lru-cache.ts';
import { tokenCacheKey, tokenIdHash } from './token-id.ts';
import type { AccessTokenVerifier, VerifiedToken } from './verifier.ts';

/*
 * Opaque access tokens via RFC 7662 introspection. The gateway authenticates with
 * client_secret_basic (RFC 6749 §2.3.1). The answer is read strictly: `active` must be the JSON
 * value true, the audience must be ours, `exp` is required and honoured. When the endpoint
 * cannot answer, the request fails closed with AuthUnavailable (503), never passes.
 */

export interface IntrospectionVerifierOptions {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** When the answer names an issuer (`iss`), it must be exactly this one. */
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly tokenIdSecret: Uint8Array;
  readonly fetch: GuardedFetch;
  readonly clockSkewSeconds?: number;
  readonly maxTokenLength?: number;
  readonly maxTokenLifetimeSeconds?: number;
  /** Positive answers are cached for at most this long (and never past `exp`); at most 60. */
  readonly cacheTtlSeconds?: number;
  /** Refusals (inactive, wrong audience…) are cached this long; default 5, at most 60. */
  readonly negativeCacheTtlSeconds?: number;
  readonly cacheMaxEntries?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Accept DPoP-bound tokens (`cnf.jkt`, token_type DPoP; RFC 9449 §6.2). Off by default. */
  readonly acceptDpopBound?: boolean;
}

export const MAX_INTROSPECTION_CACHE_SECONDS = 60;
export const DEFAULT_NEGATIVE_CACHE_SECONDS = 5;

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function clampSeconds(value: number | undefined, fallback: number): number {
  const seconds = value ?? fallback;
  return Number.isFinite(seconds)
    ? Math.min(Math.max(0, seconds), MAX_INTROSPECTION_CACHE_SECONDS)
    : fallback;
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

export function createIntrospectionVerifier(
  options: IntrospectionVerifierOptions,
): AccessTokenVerifier {
  if (!URL.canParse(options.url)) throw new TypeError('introspection url is required');
  if (!options.clientId || !options.clientSecret) {
    throw new TypeError('introspection client id and secret are required');
  }
  if (typeof options.issuer !== 'string' || options.issuer === '') {
    throw new TypeError('issuer is required');
  }
  if (!Array.isArray(options.audiences) || options.audiences.length === 0) {
    throw new TypeError('audiences is required and may not be empty');
  }
  if (
    !(options.tokenIdSecret instanceof Uint8Array) ||
    options.tokenIdSecret.length < MIN_TOKEN_ID_SECRET_BYTES
  ) {
    throw new TypeError(`tokenIdSecret must be at least ${MIN_TOKEN_ID_SECRET_BYTES} bytes`);
  }
  const secret = createSecretKey(Uint8Array.from(options.tokenIdSecret));
  const policy: ClaimPolicy = claimPolicyOf(options);
  const maxLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const positiveTtlMs =
    clampSeconds(options.cacheTtlSeconds, MAX_INTROSPECTION_CACHE_SECONDS) * 1000;
  const negativeTtlMs =
    clampSeconds(options.negativeCacheTtlSeconds, DEFAULT_NEGATIVE_CACHE_SECONDS) * 1000;
  const maxEntries = options.cacheMaxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
  const positive = new LruCache<VerifiedToken>(maxEntries);
  const negative = new LruCache<RequestError>(maxEntries);
  const inFlight = new Map<string, Promise<VerifiedToken>>();
  const now = options.now ?? Date.now;
  const authorization = basicCredentials(options.clientId, options.clientSecret);
  const { logger } = options;

  function unavailable(reason: string, cause?: unknown): RequestError {
    logger?.warn({ reason }, 'introspection failed; refusing the request');
    return new RequestError('AuthUnavailable', `token introspection failed: ${reason}`, {
      expose: false,
      cause,
    });
  }

  async function ask(token: string): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await options.fetch(options.url, {
        method: 'POST',
        headers: {
          authorization,
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      });
    } catch (error) {
      throw unavailable(error instanceof RequestError ? error.code : 'fetch error', error);
    }
    if (response.status !== 200) throw unavailable(`HTTP ${response.status}`);
    let body: unknown;
    try {
      // Strict: an answer that says `"active":false,"active":true` is not an answer (RFC 8259 §4).
      body = parseStrictJson(await response.text());
    } catch (error) {
      throw unavailable('the answer is not strict JSON', error);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw unavailable('the answer is not a JSON object');
    }
    return body as Record<string, unknown>;
  }

  /** RFC 7662 §2.2 rules on the answer, after which it becomes a VerifiedToken. */
  function judge(token: string, answer: Record<string, unknown>, nowMs: number): VerifiedToken {
    if (answer.active !== true) {
      throw new RequestError('AuthTokenRevoked', 'the token is not active', { expose: true });
    }
    if (answer.iss !== undefined && answer.iss !== policy.issuer) {
      throw new RequestError('AuthInvalidIssuer', 'the token was issued by another issuer', {
        expose: true,
      });
    }
    const audience = checkAudience(answer, policy);
    const expiresAt = checkTimes(answer, policy, Math.floor(nowMs / 1000));
    const boundKey = boundKeyOf(answer, options.acceptDpopBound === true);
    const type = answer.token_type;
    const typeName = typeof type === 'string' ? type.toLowerCase() : undefined;
    // RFC 9449 §6.2: a bound token may be introspected with token_type DPoP.
    const typeAccepted =
      type === undefined ||
      typeName === 'bearer' ||
      (boundKey !== undefined && typeName === 'dpop');
    if (!typeAccepted) {
      throw invalid('the token is not a bearer access token');
    }
    const clientId = clientIdOf(answer);
    const subject = optionalString(answer, 'sub') ?? clientId;
    if (subject === undefined) throw invalid('the token has neither "sub" nor "client_id"');
    const jti = answer.jti;
    return Object.freeze({
      subject,
      clientId,
      scopes: grantedScopes(answer, policy),
      audience,
      expiresAt,
      tokenIdHash: tokenIdHash(secret, typeof jti === 'string' ? jti : undefined, token),
      claims: deepFreeze({ ...answer }),
      ...(boundKey === undefined ? {} : { boundKey }),
    });
  }

  async function introspect(token: string, cacheKey: string): Promise<VerifiedToken> {
    const answer = await ask(token);
    const nowMs = now();
    try {
      const verified = judge(token, answer, nowMs);
      positive.set(
        cacheKey,
        verified,
        Math.min((verified.expiresAt + policy.skewSeconds) * 1000, nowMs + positiveTtlMs),
        nowMs,
      );
      return verified;
    } catch (error) {
      if (error instanceof RequestError && negativeTtlMs > 0) {
        negative.set(cacheKey, error, nowMs + negativeTtlMs, nowMs);
      }
      throw error;
    }
  }

  /** The verification itself; `answered.cached` says whether a cache decided it. */
  async function check(token: string, answered: { cached: boolean }): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0) throw invalid('no token');
    if (token.length > maxLength) throw invalid('the token is longer than accepted');
    if (!B64TOKEN.test(token)) throw invalid('the token has characters a bearer token cannot');
    const nowMs = now();
    const cacheKey = tokenCacheKey(token);
    const hit = positive.get(cacheKey, nowMs);
    if (hit !== undefined) {
      if (hit.expiresAt > Math.floor(nowMs / 1000) - policy.skewSeconds) {
        answered.cached = true;
        return hit;
      }
      positive.delete(cacheKey);
    }
    const refused = negative.get(cacheKey, nowMs);
    if (refused !== undefined) {
      answered.cached = true;
      throw refused;
    }
    let pending = inFlight.get(cacheKey);
    if (pending === undefined) {
      pending = introspect(token, cacheKey).finally(() => inFlight.delete(cacheKey));
      inFlight.set(cacheKey, pending);
    }
    return pending;
  }

  return {
    async verify(token: string): Promise<VerifiedToken> {
      const answered = { cached: false };
      try {
        const verified = await check(token, answered);
        publishVerification('ok', answered.cached);
        return verified;
      } catch (error) {
        publishVerification(error, answered.cached);
        throw error;
      }
    },
  };
}
