import type { LoadedConfig } from '../config/index.ts';
import type { Logger } from '../lib/log.ts';
import type { TokenAuthentication } from '../proxy/index.ts';
import {
  buildChallenge,
  buildProtectedResourceMetadata,
  type ConfiguredVerifier,
  challengeOptionsFor,
  createVerifierFromConfig,
  extractBearerToken,
  type KeySource,
} from '../resource-server/index.ts';

export interface TokenAuthenticationOptions {
  readonly logger?: Logger;
  /** Keys to verify with instead of jwks_url / metadata_url (the co-located authorization server's). */
  readonly keySource?: KeySource;
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
  const verifier = createVerifierFromConfig(loaded, {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.keySource ? { keySource: options.keySource } : {}),
  });
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
      const rendered = buildChallenge(error, {
        resourceMetadataUrl,
        scope: scopes.length > 0 ? scopes : (defaults.scope ?? []),
      });
      return rendered.headers['www-authenticate'];
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
