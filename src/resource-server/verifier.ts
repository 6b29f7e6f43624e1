/**
 * The contract between token verification (this folder) and the gateway (src/proxy, src/http).
 * The gateway depends only on these types; the implementations live beside this file.
 */

/** What a successful verification yields (issue: token verification, "result"). */
export interface VerifiedToken {
  /** `sub` claim. */
  readonly subject: string;
  /** `client_id` (RFC 9068 §2.2), else `azp`; undefined when the token names neither. */
  readonly clientId: string | undefined;
  /** Token scopes intersected with remote_mcp.allowed_scopes. */
  readonly scopes: readonly string[];
  /** The configured audience the token matched. */
  readonly audience: string;
  /** `exp`, in seconds since the epoch. */
  readonly expiresAt: number;
  /** HMAC-SHA256 (hex) of `jti`, or of the token when it has no `jti`; for audit correlation. */
  readonly tokenIdHash: string;
  /** The verified claims. */
  readonly claims: Readonly<Record<string, unknown>>;
  /**
   * The thumbprint of the key the token is bound to (RFC 9449 §6.1 `cnf.jkt`); set only by a
   * verifier that accepts DPoP-bound tokens. Such a token is honoured only with a proof by that
   * key (resource-server/presentation.ts).
   */
  readonly boundKey?: string;
}

/**
 * Verifies an access token taken from the Authorization header. Rejects with a RequestError
 * (src/errors) whose code is one of AuthTokenInvalid, AuthTokenExpired, AuthTokenRevoked,
 * AuthInvalidIssuer, AuthInvalidAudience or AuthUnavailable; never resolves for a bad token.
 */
export interface AccessTokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}
