import { hash } from 'node:crypto';
import { MAX_CLOCK_SKEW_SECONDS } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import {
  accessTokenHash,
  DPOP_ALGORITHMS,
  type DpopAlgorithm,
  type DpopPublicKey,
  importDpopKey,
  isDpopAlgorithm,
  verifyJwsSignature,
} from './dpop-key.ts';
import type { DpopNonces } from './dpop-nonce.ts';
import {
  decodeBase64urlStrict,
  isCanonicalBase64url,
  parseStrictJsonObject,
} from './jose-segments.ts';
import { LruCache } from './lru-cache.ts';
import type { ReplayCache } from './replay-cache.ts';

/*
 * DPoP proof checking (RFC 9449 §4.3), shared by the resource server (a proof with each request
 * carrying `Authorization: DPoP`) and the token endpoint (a proof with a token request, §5).
 * What is checked, in order: one `DPoP` header; a compact JWS in canonical base64url; a strict
 * JSON header with `typ` dpop+jwt, an allowed asymmetric `alg` and a public `jwk` that fits it;
 * the signature with that key; a strict JSON payload with `jti`, `htm` equal to the method,
 * `htu` equal to the request's public URL without query and fragment, the server nonce when
 * nonces are on, `iat` within the skew, `ath` equal to the hash of the presented access token;
 * finally `jti` unused (replay cache). Binding the key to a token (`cnf.jkt`) is the caller's
 * step: the result carries the key's thumbprint.
 */

export { accessTokenHash, DPOP_ALGORITHMS, type DpopAlgorithm } from './dpop-key.ts';

/** Where the proof arrived: the error codes differ (401 at a resource, 400 at the token endpoint). */
export type DpopContext = 'resource' | 'token-endpoint';

export interface DpopProofVerifierOptions {
  readonly context: DpopContext;
  /** Accepted proof algorithms; default every asymmetric one. */
  readonly algorithms?: readonly DpopAlgorithm[];
  /** How far `iat` may lie from now, in seconds; default 60, clamped to 300. */
  readonly clockSkewSeconds?: number;
  /** Where used `jti`s are remembered. */
  readonly replay: ReplayCache;
  /** When set, every proof must carry a nonce these issued (RFC 9449 §8, §9). */
  readonly nonces?: DpopNonces;
  /** Longest proof accepted, in characters; default 8192. */
  readonly maxProofLength?: number;
  readonly now?: () => number;
}

export interface DpopProofRequest {
  /** Every `DPoP` header value the request carried. */
  readonly proof: string | readonly string[] | null | undefined;
  /** The request method, as sent. */
  readonly method: string;
  /** The request URL as the client addressed it: the public URL, never built from `Host`. */
  readonly url: string;
  /** The access token sent with the proof; its hash must be the proof's `ath` (§4.3 item 11). */
  readonly accessToken?: string;
}

export interface VerifiedDpopProof {
  /** Thumbprint of the proof's key (RFC 7638), to compare with a token's `cnf.jkt`. */
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
  readonly alg: DpopAlgorithm;
}

export interface DpopProofVerifier {
  readonly context: DpopContext;
  /** The algorithms accepted, for `algs` in challenges and `dpop_signing_alg_values_supported`. */
  readonly algorithms: readonly DpopAlgorithm[];
  /** The nonce to send in `DPoP-Nonce` now, when nonces are on. */
  nonce(): string | undefined;
  /** Resolves with the checked proof; rejects with a RequestError naming what failed. */
  verify(request: DpopProofRequest): Promise<VerifiedDpopProof>;
}

export const DEFAULT_DPOP_SKEW_SECONDS = 60;
export const DEFAULT_MAX_PROOF_LENGTH = 8192;
const MAX_JTI_LENGTH = 256;
const KEY_CACHE_ENTRIES = 1000;
const KEY_CACHE_TTL_MS = 3600_000;
const DPOP_TYP = /^(application\/)?dpop\+jwt$/i;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The URL a proof's `htu` must name: scheme, host, port and path, no query or fragment
 * (RFC 9449 §4.2, §4.3 item 9), normalised as RFC 3986 §6.2.2–6.2.3 allow (WHATWG URL parsing
 * lowercases scheme and host, drops a default port and resolves dot segments). Undefined when
 * the value is not an absolute http(s) URL.
 */
export function htuOf(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Builds the proof checker; throws TypeError on an unusable option. */
export function createDpopProofVerifier(options: DpopProofVerifierOptions): DpopProofVerifier {
  const algorithms = options.algorithms ?? DPOP_ALGORITHMS;
  if (algorithms.length === 0) throw new TypeError('algorithms may not be empty');
  for (const alg of algorithms) {
    if (!isDpopAlgorithm(alg)) throw new TypeError(`${String(alg)} is not a DPoP algorithm`);
  }
  if (options.replay === undefined) throw new TypeError('a replay cache is required');
  const accepted = new Set<string>(algorithms);
  const requested = options.clockSkewSeconds ?? DEFAULT_DPOP_SKEW_SECONDS;
  const skew = Number.isFinite(requested)
    ? Math.min(Math.max(0, Math.floor(requested)), MAX_CLOCK_SKEW_SECONDS)
    : MAX_CLOCK_SKEW_SECONDS;
  const maxLength = options.maxProofLength ?? DEFAULT_MAX_PROOF_LENGTH;
  const now = options.now ?? Date.now;
  const { replay, nonces, context } = options;
  // Proof keys by the header segment that carried them: a client sends the same header with
  // every request, so a warm request imports nothing.
  const keys = new LruCache<DpopPublicKey>(KEY_CACHE_ENTRIES);

  const invalid = (message: string) =>
    new RequestError(
      context === 'resource' ? 'AuthDpopProofInvalid' : 'OAuthInvalidDpopProof',
      message,
      { expose: true },
    );
  const nonceRequired = (message: string, nowMs: number) =>
    new RequestError(
      context === 'resource' ? 'AuthDpopNonceRequired' : 'OAuthUseDpopNonce',
      message,
      {
        expose: true,
        details: { dpopNonce: nonces?.current(nowMs) ?? '' },
      },
    );

  function keyOf(segment: string, nowMs: number): DpopPublicKey {
    const cached = keys.get(segment, nowMs);
    if (cached !== undefined) return cached;
    const bytes = decodeBase64urlStrict(segment);
    const header = bytes && parseStrictJsonObject(bytes);
    if (!header) throw invalid('the proof header is not a strict JSON object');
    const { typ, alg, jwk } = header;
    if (typeof typ !== 'string' || !DPOP_TYP.test(typ)) {
      throw invalid('the proof type (typ) is not dpop+jwt');
    }
    // RFC 9449 §4.3 item 5, RFC 8725 §3.1: `none` and MACs are never in the list.
    if (!isDpopAlgorithm(alg) || !accepted.has(alg)) {
      throw invalid('the proof algorithm is not accepted');
    }
    // No extension is understood, so none may be critical (RFC 7515 §4.1.11); no unencoded
    // payload (RFC 7797).
    if ('crit' in header || 'b64' in header) {
      throw invalid('the proof header uses crit or b64, which are not accepted');
    }
    if (jwk === undefined) throw invalid('the proof header has no jwk');
    const key = importDpopKey(jwk, alg);
    if (typeof key === 'string') throw invalid(key);
    keys.set(segment, key, nowMs + KEY_CACHE_TTL_MS);
    return key;
  }

  function single(proof: DpopProofRequest['proof']): string {
    const values =
      proof === null || proof === undefined ? [] : typeof proof === 'string' ? [proof] : proof;
    if (values.length === 0) throw invalid('no DPoP proof was sent');
    // RFC 9449 §4.3 item 1: exactly one DPoP header.
    if (values.length > 1) throw invalid('more than one DPoP header');
    const [value = ''] = values;
    if (value.length > maxLength) throw invalid('the proof is longer than accepted');
    if (!JWS_SHAPE.test(value)) throw invalid('the proof is not a compact JWS');
    return value;
  }

  /** The payload rules (RFC 9449 §4.3 items 4 and 8–11); returns `jti` and `iat`. */
  function checkClaims(
    claims: Record<string, unknown>,
    request: DpopProofRequest,
    nowMs: number,
  ): { jti: string; iat: number } {
    const { jti, htm, htu, iat } = claims;
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
      throw invalid('the proof has no usable jti');
    }
    if (htm !== request.method) throw invalid('the proof is for another HTTP method (htm)');
    const expected = expectedHtu(request.url);
    if (
      typeof htu !== 'string' ||
      expected === undefined ||
      (htu !== expected && htuOf(htu) !== expected)
    ) {
      throw invalid('the proof is for another URL (htu)');
    }
    if (nonces !== undefined && !nonces.accepts(claims.nonce, nowMs)) {
      throw nonceRequired(
        claims.nonce === undefined
          ? 'a DPoP nonce is required'
          : 'the DPoP nonce is stale or unknown',
        nowMs,
      );
    }
    if (typeof iat !== 'number' || !Number.isFinite(iat)) {
      throw invalid('the proof has no numeric iat');
    }
    const nowSeconds = Math.floor(nowMs / 1000);
    if (iat < nowSeconds - skew || iat > nowSeconds + skew) {
      throw invalid('the proof was not issued within the accepted time window (iat)');
    }
    // RFC 9449 §4.3 item 11: the proof names the token it travels with.
    if (request.accessToken !== undefined && claims.ath !== athOf(request.accessToken)) {
      throw invalid('the proof is for another access token (ath)');
    }
    return { jti, iat };
  }

  /**
   * Only a proof that passed every other check may occupy the cache. Its entry lives as long as
   * its iat would still be accepted (RFC 9449 §11.1).
   */
  async function checkUnused(jkt: string, jti: string, iat: number, nowMs: number): Promise<void> {
    const replayKey = hash('sha256', `${jkt} ${jti}`, 'base64url');
    let first: boolean;
    try {
      first = await replay.remember(replayKey, (Math.floor(iat) + skew + 1) * 1000, nowMs);
    } catch (cause) {
      throw new RequestError('AuthUnavailable', 'DPoP proofs cannot be checked right now', {
        expose: true,
        cause,
      });
    }
    if (!first) throw invalid('the proof was already used (jti)');
  }

  // A client presents the same token with every proof until it is refreshed: its hash is
  // computed once (one string comparison instead of a SHA-256 over the whole token).
  let lastToken = '';
  let lastAth = '';
  function athOf(token: string): string {
    if (token !== lastToken) {
      lastAth = accessTokenHash(token);
      lastToken = token;
    }
    return lastAth;
  }

  // A route sees the same URL on every request: its normal form is computed once.
  let lastUrl = '';
  let lastHtu: string | undefined;
  function expectedHtu(url: string): string | undefined {
    if (url !== lastUrl) {
      lastUrl = url;
      lastHtu = htuOf(url);
    }
    return lastHtu;
  }

  async function verify(request: DpopProofRequest): Promise<VerifiedDpopProof> {
    const proof = single(request.proof);
    const nowMs = now();
    const firstDot = proof.indexOf('.');
    const lastDot = proof.lastIndexOf('.');
    const key = keyOf(proof.slice(0, firstDot), nowMs);
    // The alphabet was checked by the shape test; one spelling per proof (canonical segments).
    const signatureSegment = proof.slice(lastDot + 1);
    const payloadSegment = proof.slice(firstDot + 1, lastDot);
    if (!isCanonicalBase64url(signatureSegment) || !isCanonicalBase64url(payloadSegment)) {
      throw invalid('the proof is not canonical base64url');
    }
    const signature = Buffer.from(signatureSegment, 'base64url');
    if (!verifyJwsSignature(key, proof.slice(0, lastDot), signature)) {
      throw invalid('the proof signature does not verify');
    }
    const claims = parseStrictJsonObject(Buffer.from(payloadSegment, 'base64url'));
    if (!claims) throw invalid('the proof payload is not a strict JSON object');
    const { jti, iat } = checkClaims(claims, request, nowMs);
    await checkUnused(key.jkt, jti, iat, nowMs);
    return Object.freeze({ jkt: key.jkt, jti, iat, alg: key.alg });
  }

  return {
    context,
    algorithms: Object.freeze([...algorithms]),
    nonce: () => nonces?.current(now()),
    verify,
  };
}
