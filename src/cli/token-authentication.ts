import type { AuthorizationServer } from '../authorization-server/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { formatChallenge } from '../errors/render.ts';
import type { Logger } from '../lib/log.ts';
import type { TokenAuthentication } from '../proxy/index.ts';
import {
  bearerChallenge,
  buildProtectedResourceMetadata,
  type ConfiguredVerifier,
  challengeOptionsFor,
  createVerifierFromConfig,
  extractBearerToken,
} from '../resource-server/index.ts';
import { coLocatedKeySource, honourRevocation } from './co-located.ts';

export interface TokenAuthenticationOptions {
  readonly logger?: Logger;
  /**
   * The co-located authorization server: its keys are used directly when no jwks_url or
   * metadata_url is configured, and its revocations are honoured.
   */
  readonly authorizationServer?: Pick<AuthorizationServer, 'publicKeySet' | 'isAccessTokenRevoked'>;
}

/**
 * Token verification for `auth: oauth`, assembled from src/resource-server for the gateway's
 * authentication stage: the configured verifier (JWKS, metadata discovery or introspection), the
 * Authorization-header reader (RFC 6750 §2.1: the header only), the one challenge builder
 * (RFC 6750 §3, RFC 9728 §5.1) and the protected resource metadata documents (RFC 9728 §2).
 * Undefined for `auth: none`. Throws ConfigError when verification cannot be set up.
 */
export function tokenAuthenticationFor(
  loaded: LoadedConfig,
  options: TokenAuthenticationOptions = {},
): (TokenAuthentication & { readonly verifier: ConfiguredVerifier }) | undefined {
  if (loaded.config.remote_mcp.auth !== 'oauth') return undefined;
  const rm = loaded.config.remote_mcp;
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
  const upstreamIndexOf = (resource: string) =>
    Math.max(
      0,
      loaded.derived.upstreams.findIndex((upstream) => upstream.resource === resource),
    );

  return {
    verifier,
    readBearerToken(headers) {
      const value = headers.authorization;
      return value === undefined ? undefined : extractBearerToken(value);
    },
    buildChallenge({ resource, resourceMetadataUrl, error, scopes }) {
      // A 401 suggests the resource's scopes; a 403 names the scope the call needs (MCP
      // "Scope Challenge Handling").
      const defaults = challengeOptionsFor(loaded, upstreamIndexOf(resource));
      const challenge = bearerChallenge(error, {
        resourceMetadataUrl,
        scope: scopes.length > 0 ? scopes : (defaults.scope ?? []),
      });
      return challenge === undefined ? undefined : formatChallenge(challenge);
    },
    readiness() {
      const keys = verifier.keySource;
      if (keys === undefined) return { ok: true, detail: 'introspection' };
      if (keys.snapshot() !== undefined) return { ok: true, detail: 'loaded' };
      // Not loaded yet (the issuer was down at start, say): try again in the background; the
      // key source spaces out attempts, so frequent probes do not become a fetch flood.
      verifier.warm().catch(() => {});
      return { ok: false, detail: 'key set not loaded' };
    },
    protectedResourceMetadata(route) {
      const document = buildProtectedResourceMetadata(loaded, upstreamIndexOf(route.resource));
      return {
        ...document,
        scopes_supported: route.scopes.length > 0 ? [...route.scopes] : document.scopes_supported,
      };
    },
  };
}
