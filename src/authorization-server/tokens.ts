import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AccessTokenRecord, GrantRecord, RefreshTokenRecord } from '../store/index.ts';
import { randomToken, sha256 } from './crypto.ts';
import type { Services } from './services.ts';

/** The token endpoint's success body (RFC 6749 §5.1). */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly scope: string;
  readonly refresh_token?: string;
}

export interface MintedAccessToken {
  readonly token: string;
  readonly record: AccessTokenRecord;
  readonly expiresInSeconds: number;
}

/**
 * An RFC 9068 access token: `typ: at+jwt`, signed with the current key, carrying `iss`, `sub`,
 * `aud` (the one resource, RFC 8707), `client_id`, `scope`, `jti`, `iat` and `exp`. It never
 * outlives its grant.
 */
export async function mintAccessToken(
  services: Services,
  grant: Pick<GrantRecord, 'grantId' | 'subject' | 'clientId' | 'resource' | 'expiresAt'>,
  scopes: readonly string[],
  now: number,
): Promise<MintedAccessToken> {
  const { kid, alg, key } = await services.keys.signingKey();
  const jti = randomToken(16);
  const iat = Math.floor(now / 1000);
  const exp = Math.floor(
    Math.min(now + services.settings.accessTokenTtlMs, grant.expiresAt) / 1000,
  );
  const token = await new SignJWT({ client_id: grant.clientId, scope: scopes.join(' ') })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(services.settings.issuer)
    .setSubject(grant.subject)
    .setAudience(grant.resource)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return {
    token,
    record: {
      jti,
      grantId: grant.grantId,
      clientId: grant.clientId,
      expiresAt: exp * 1000,
      revokedAt: undefined,
    },
    expiresInSeconds: exp - iat,
  };
}

export interface MintedRefreshToken {
  readonly token: string;
  readonly record: RefreshTokenRecord;
}

/** A 256-bit random refresh token, stored only as its SHA-256; bound to client and resource. */
export function mintRefreshToken(
  services: Services,
  grant: GrantRecord,
  scopes: readonly string[],
  now: number,
): MintedRefreshToken {
  const token = randomToken(32);
  return {
    token,
    record: {
      tokenHash: sha256(token),
      grantId: grant.grantId,
      clientId: grant.clientId,
      subject: grant.subject,
      resource: grant.resource,
      scopes,
      issuedAt: now,
      expiresAt: Math.min(now + services.settings.refreshTokenTtlMs, grant.expiresAt),
      rotatedAt: undefined,
      successorHash: undefined,
      graceBlob: undefined,
    },
  };
}

/**
 * The token endpoint's success body, serialized once: a refresh retried within its grace window
 * is answered with these very bytes (kept sealed), never with a re-parsed copy.
 */
export function tokenResponseText(
  access: MintedAccessToken,
  scopes: readonly string[],
  refresh: MintedRefreshToken | undefined,
): string {
  const response: TokenResponse = {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresInSeconds,
    scope: scopes.join(' '),
    ...(refresh === undefined ? {} : { refresh_token: refresh.token }),
  };
  return JSON.stringify(response);
}

/**
 * The audit trail's token id: HMAC-SHA256 (hex) of `jti` with the deployment secret, the same
 * value the gateway records for the same token, so the two trails join.
 */
export function tokenIdHash(services: Services, jti: string): string | undefined {
  const secret = services.settings.tokenIdHmacSecret;
  return secret === undefined ? undefined : createHmac('sha256', secret).update(jti).digest('hex');
}
