import { RequestError } from '../errors/index.ts';
import { extractBearerToken } from './bearer.ts';
import { invalid } from './claims.ts';
import type { DpopProofVerifier, VerifiedDpopProof } from './dpop.ts';
import type { AccessTokenVerifier, VerifiedToken } from './verifier.ts';

/*
 * How an access token is presented to a protected resource, and whether that presentation is
 * good enough: `Authorization: Bearer` (RFC 6750) or `Authorization: DPoP` with a `DPoP` proof
 * (RFC 9449 §7). Per upstream, DPoP is `off` (bearer only; bound tokens refused), `allowed`
 * (both; a bound token only with its proof) or `required` (DPoP only).
 */

export const DPOP_MODES = ['off', 'allowed', 'required'] as const;
export type DpopMode = (typeof DPOP_MODES)[number];

export type AuthScheme = 'Bearer' | 'DPoP';

export interface PresentedCredentials {
  readonly scheme: AuthScheme;
  readonly token: string;
}

/** RFC 9449 §7.1 / RFC 6750 §2.1: the scheme (case-insensitive), one space, one token68. */
const CREDENTIALS = /^([A-Za-z]+) ([A-Za-z0-9\-._~+/]+=*)$/;

/**
 * Reads the access token and its scheme from the Authorization header. With DPoP off, this is
 * exactly extractBearerToken (the DPoP scheme is another scheme). Otherwise `DPoP` is accepted
 * beside `Bearer` (not with `required`), with the same rules on repeated or malformed headers.
 */
export function extractAccessToken(
  authorization: string | readonly string[] | null | undefined,
  mode: DpopMode,
): PresentedCredentials {
  if (mode === 'off') return { scheme: 'Bearer', token: extractBearerToken(authorization) };
  const values =
    authorization === null || authorization === undefined
      ? []
      : typeof authorization === 'string'
        ? [authorization]
        : authorization;
  if (values.length === 0) {
    throw new RequestError('AuthTokenMissing', 'no access token was sent', { expose: true });
  }
  if (values.length > 1) {
    throw new RequestError('AuthInvalidRequest', 'more than one Authorization header', {
      expose: true,
    });
  }
  const match = CREDENTIALS.exec(values[0] ?? '');
  const scheme = match?.[1]?.toLowerCase();
  const token = match?.[2];
  if (token !== undefined && scheme === 'dpop') return { scheme: 'DPoP', token };
  if (token !== undefined && scheme === 'bearer') {
    if (mode === 'required') {
      throw withScheme(
        invalid('this resource accepts only DPoP-bound tokens (Authorization: DPoP)'),
        'Bearer',
      );
    }
    return { scheme: 'Bearer', token };
  }
  throw new RequestError(
    'AuthInvalidRequest',
    'the Authorization header is not "DPoP" or "Bearer" followed by one token',
    { expose: true },
  );
}

export interface AuthenticatedAccess {
  readonly token: VerifiedToken;
  readonly scheme: AuthScheme;
  /** True when the token is bound to a key and a proof by that key came with this request. */
  readonly senderConstrained: boolean;
  /** The checked proof, for DPoP presentations. */
  readonly proof?: VerifiedDpopProof;
}

export interface PresentationRequest {
  /** Every Authorization value the request carried. */
  readonly authorization: string | readonly string[] | null | undefined;
  /** Every DPoP value the request carried. */
  readonly dpop: string | readonly string[] | null | undefined;
  readonly method: string;
  /** The URL the client addressed: public origin and path (never rebuilt from Host). */
  readonly url: string;
}

export interface PresentationPolicy {
  readonly mode: DpopMode;
  readonly verifier: AccessTokenVerifier;
  /** Required unless the mode is `off`. */
  readonly proofs: DpopProofVerifier | undefined;
}

/** Adds the scheme the client used, so the challenge puts the error on that scheme. */
function withScheme(error: unknown, scheme: AuthScheme): unknown {
  if (!(error instanceof RequestError) || error.details.authScheme !== undefined) return error;
  return new RequestError(error.code, error.message, {
    expose: error.expose,
    details: { ...error.details, authScheme: scheme },
    cause: error.cause ?? error,
  });
}

/**
 * Authenticates one request: the token (signature, claims) first, then for DPoP the proof
 * (RFC 9449 §4.3, with `ath` for this token) and the binding (§7.1: the proof's key is the
 * token's `cnf.jkt`). A bound token sent as Bearer is refused (§7.2 no downgrade), as is a
 * DPoP presentation of an unbound token. Rejects with a RequestError whose `details.authScheme`
 * names the scheme used, for buildChallenge.
 */
export async function authenticateRequest(
  request: PresentationRequest,
  policy: PresentationPolicy,
): Promise<AuthenticatedAccess> {
  if (policy.mode !== 'off' && policy.proofs === undefined) {
    throw new TypeError('DPoP is on but no proof verifier was given');
  }
  const presented = extractAccessToken(request.authorization, policy.mode);
  try {
    const token = await policy.verifier.verify(presented.token);
    if (presented.scheme === 'Bearer') {
      if (token.boundKey !== undefined) {
        throw invalid(
          policy.mode === 'off'
            ? 'the token is sender-constrained (cnf), which this resource does not support'
            : 'the token is DPoP-bound: send it with the DPoP scheme and a proof',
        );
      }
      return { token, scheme: 'Bearer', senderConstrained: false };
    }
    if (token.boundKey === undefined) {
      throw invalid('the token is not DPoP-bound, so it cannot be sent with the DPoP scheme');
    }
    const proofs = policy.proofs as DpopProofVerifier;
    const proof = await proofs.verify({
      proof: request.dpop,
      method: request.method,
      url: request.url,
      accessToken: presented.token,
    });
    if (proof.jkt !== token.boundKey) {
      throw invalid('the proof is signed by a key other than the one the token is bound to');
    }
    return { token, scheme: 'DPoP', senderConstrained: true, proof };
  } catch (error) {
    throw withScheme(error, presented.scheme);
  }
}
