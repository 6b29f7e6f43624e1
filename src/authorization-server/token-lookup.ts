import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { AccessTokenRecord, GrantRecord, RefreshTokenRecord } from '../store/index.ts';
import { sha256 } from './crypto.ts';
import type { Services } from './services.ts';

export type FoundToken =
  | {
      readonly kind: 'access_token';
      readonly claims: JWTPayload;
      readonly record: AccessTokenRecord;
      readonly clientId: string;
      readonly active: boolean;
    }
  | {
      readonly kind: 'refresh_token';
      readonly record: RefreshTokenRecord;
      readonly grant: GrantRecord | undefined;
      readonly clientId: string;
      readonly active: boolean;
    };

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Identifies a token this server issued, for revocation and introspection. An access token
 * counts only if its signature verifies with our own keys, it is ours (`iss`, `typ`), and we
 * recorded its `jti`; a refresh token only if its hash is stored. Anything else is undefined:
 * garbage and foreign tokens are indistinguishable from unknown ones (no oracle).
 */
export async function findToken(
  services: Services,
  token: string,
  options: { readonly allowExpired: boolean },
): Promise<FoundToken | undefined> {
  const now = services.now();
  if (JWS_COMPACT.test(token) && token.length <= 8192) {
    try {
      const keys = createLocalJWKSet(await services.keys.publicKeySet());
      const { payload } = await jwtVerify(token, keys, {
        issuer: services.settings.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'],
        currentDate: new Date(now),
        // Revoking an expired token is a no-op, but it is still recognised as ours.
        ...(options.allowExpired ? { clockTolerance: Number.MAX_SAFE_INTEGER } : {}),
      });
      if (typeof payload.jti !== 'string') return undefined;
      const record = await services.store.getAccessToken(payload.jti);
      if (record === undefined) return undefined;
      const revoked = await services.store.isAccessTokenRevoked(payload.jti);
      const expired = (payload.exp ?? 0) * 1000 <= now;
      return {
        kind: 'access_token',
        claims: payload,
        record,
        clientId: record.clientId,
        active: !revoked && !expired,
      };
    } catch {
      return undefined;
    }
  }
  if (REFRESH_TOKEN.test(token)) {
    const record = await services.store.getRefreshToken(sha256(token));
    if (record === undefined) return undefined;
    const grant = await services.store.getGrant(record.grantId);
    const active =
      record.rotatedAt === undefined &&
      record.expiresAt > now &&
      grant !== undefined &&
      grant.revokedAt === undefined &&
      grant.expiresAt > now;
    return { kind: 'refresh_token', record, grant, clientId: record.clientId, active };
  }
  return undefined;
}
