import { createHmac, hash, type KeyObject } from 'node:crypto';

/** Key of the verified-token caches: SHA-256 of the exact token string. */
export function tokenCacheKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

/**
 * The token id for audit correlation: HMAC-SHA256 (hex) of `jti`, or of the whole token when it
 * has none (verifier.ts). The secret keeps the id from being a checkable hash of the token.
 * Pass the secret as a KeyObject (createSecretKey) on hot paths: a raw buffer is set up again
 * on every call, which costs several times the HMAC itself.
 */
export function tokenIdHash(
  secret: KeyObject | Uint8Array,
  jti: string | undefined,
  token: string,
): string {
  return createHmac('sha256', secret)
    .update(jti ?? token)
    .digest('hex');
}
