import type { AuthorizationServer } from '../authorization-server/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import {
  type AccessTokenVerifier,
  buildKeySet,
  type KeySet,
  type KeySource,
  type VerifiedToken,
} from '../resource-server/index.ts';

/**
 * The co-located authorization server's public keys as the gateway's key source: read from the
 * server directly, never fetched over HTTP (issue: co-located authorization server, Keys). The
 * server hands out the same JWKS object until its key set changes (rotation, re-read from the
 * store), so the verifier's KeySet is rebuilt only then.
 */
export function coLocatedKeySource(
  server: Pick<AuthorizationServer, 'publicKeySet'>,
  algorithms: readonly string[],
  logger?: Logger,
): KeySource {
  let document: unknown;
  let current: KeySet | undefined;
  let building: Promise<KeySet> | undefined;
  const load = async (): Promise<KeySet> => {
    const latest = await server.publicKeySet();
    if (latest === document && current !== undefined) return current;
    building ??= buildKeySet(latest, algorithms, logger, current)
      .then((set) => {
        document = latest;
        current = set;
        return set;
      })
      .finally(() => {
        building = undefined;
      });
    return building;
  };
  const get = () =>
    load().catch((error: unknown) => {
      throw new RequestError('AuthUnavailable', 'the signing keys could not be read', {
        cause: error,
      });
    });
  return {
    snapshot: () => {
      void get().catch(() => {});
      return current;
    },
    get,
    refreshForUnknownKey: get,
  };
}

/**
 * Revocation before expiry (RFC 7009 §2): a token the co-located server revoked, itself or
 * through its grant, stops working at once, cached verification or not.
 */
export function honourRevocation<T extends AccessTokenVerifier>(
  verifier: T,
  server: Pick<AuthorizationServer, 'isAccessTokenRevoked'>,
): T {
  const verify = async (token: string): Promise<VerifiedToken> => {
    const verified = await verifier.verify(token);
    const jti = verified.claims.jti;
    if (typeof jti === 'string' && (await server.isAccessTokenRevoked(jti))) {
      throw new RequestError('AuthTokenRevoked', 'the token was revoked', { expose: true });
    }
    return verified;
  };
  return new Proxy(verifier, {
    get: (target, property, receiver) =>
      property === 'verify' ? verify : Reflect.get(target, property, receiver),
  });
}
