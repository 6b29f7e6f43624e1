import { createHash, timingSafeEqual } from 'node:crypto';
import { RequestError } from '../../errors/index.ts';

/** BASE64URL(SHA-256(verifier)) is always 43 characters (RFC 7636 §4.2). */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** code-verifier = 43*128unreserved (RFC 7636 §4.1). */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * The authorization request's PKCE parameters (RFC 7636 §4.3, OAuth 2.1 §4.1.1): required, and
 * S256 only. A missing method is refused rather than read as `plain` (RFC 9700 §2.1.1: no
 * downgrade).
 */
export function checkCodeChallenge(
  challenge: string | undefined,
  method: string | undefined,
): string {
  if (challenge === undefined || challenge === '') {
    throw new RequestError('OAuthInvalidRequest', 'code_challenge is required (PKCE, S256)');
  }
  if (method !== 'S256') {
    throw new RequestError(
      'OAuthInvalidRequest',
      method === undefined
        ? 'code_challenge_method is required and must be S256'
        : 'code_challenge_method must be S256 (plain is not supported)',
    );
  }
  if (!S256_CHALLENGE.test(challenge)) {
    throw new RequestError(
      'OAuthInvalidRequest',
      'code_challenge must be 43 base64url characters (an S256 challenge)',
    );
  }
  return challenge;
}

/** The token request's verifier against the stored challenge (RFC 7636 §4.6). */
export function checkCodeVerifier(verifier: string, challenge: string): void {
  if (!VERIFIER.test(verifier)) {
    throw new RequestError(
      'OAuthInvalidGrant',
      'code_verifier must be 43 to 128 unreserved characters',
    );
  }
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  if (computed.length !== expected.length || !timingSafeEqual(computed, expected)) {
    throw new RequestError('OAuthInvalidGrant', 'code_verifier does not match the code_challenge');
  }
}
