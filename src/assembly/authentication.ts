import type { AuthorizationServer } from '../authorization-server/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import type { Logger } from '../lib/log.ts';
import { type AuthStage, bearerAuthentication } from '../proxy/index.ts';
import {
  type ConfiguredDpop,
  type ConfiguredVerifier,
  createVerifierFromConfig,
} from '../resource-server/index.ts';
import { coLocatedKeySource, honourRevocation } from './co-located.ts';

export interface TokenVerification {
  /** The gateway's authentication stage for `auth: oauth`. */
  readonly stage: AuthStage;
  /** The verifier behind it, to load the key set before listening. */
  readonly verifier: ConfiguredVerifier;
}

/**
 * Token verification for `auth: oauth`, from the configuration: the configured verifier (JWKS,
 * metadata discovery or introspection); with a co-located authorization server and neither
 * jwks_url nor metadata_url, that server's own keys, read directly; its revocations honoured
 * (RFC 7009 §2). Undefined for `auth: none`. Throws ConfigError when verification cannot be set
 * up.
 */
export function tokenVerificationFor(
  loaded: LoadedConfig,
  options: {
    readonly logger?: Logger;
    readonly authorizationServer?:
      | (Pick<AuthorizationServer, 'publicKeySet' | 'isAccessTokenRevoked'> &
          Partial<Pick<AuthorizationServer, 'reloadKeys'>>)
      | undefined;
    /** DPoP per route (RFC 9449), when the configuration turns it on anywhere. */
    readonly dpop?: ConfiguredDpop | undefined;
  } = {},
): TokenVerification | undefined {
  const rm = loaded.config.remote_mcp;
  if (rm.auth !== 'oauth') return undefined;
  const coLocated = options.authorizationServer;
  const useLocalKeys =
    coLocated !== undefined && rm.jwks_url === undefined && rm.metadata_url === undefined;
  const configured = createVerifierFromConfig(loaded, {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(useLocalKeys
      ? { keySource: coLocatedKeySource(coLocated, rm.algorithms, options.logger) }
      : {}),
  });
  const verifier = coLocated ? honourRevocation(configured, coLocated) : configured;
  return { stage: bearerAuthentication(loaded, verifier, options.dpop), verifier };
}
