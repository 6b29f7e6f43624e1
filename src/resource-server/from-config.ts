import { type LoadedConfig, MAX_CLOCK_SKEW_SECONDS } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import { createGuardedFetch, type GuardedFetch } from '../net/index.ts';
import { invalid } from './claims.ts';
import { createIntrospectionVerifier } from './introspection.ts';
import { createAccessTokenVerifier, JWT_SHAPE } from './jwt-verifier.ts';
import { createRemoteKeySource, type KeySource } from './key-source.ts';
import type { AccessTokenVerifier, VerifiedToken } from './verifier.ts';

export interface VerifierFromConfigOptions {
  /** Outbound fetch; default: the guarded fetcher, with loopback allowed only under `development.allow_loopback_urls`. */
  readonly fetch?: GuardedFetch;
  /**
   * Keys to use instead of jwks_url / metadata_url, e.g. the co-located authorization server's
   * own public keys (createStaticKeySource).
   */
  readonly keySource?: KeySource;
  readonly logger?: Logger;
  /** Clock in ms since the epoch; for tests. */
  readonly now?: () => number;
}

/** The verifier the gateway uses, with a way to load keys before the first request. */
export interface ConfiguredVerifier extends AccessTokenVerifier {
  /** What this verifier accepts: JWTs (with their key source), opaque tokens, or both. */
  readonly modes: readonly ('jwt' | 'introspection')[];
  /** Where JWT keys come from, for readiness checks (undefined with introspection only). */
  readonly keySource: KeySource | undefined;
  /** Loads the key set now (no-op without JWTs). Rejects with AuthUnavailable. */
  warm(): Promise<void>;
}

function refused(path: string, message: string, fix: string): ConfigError {
  return new ConfigError('ConfigRefused', [{ path, message, fix }]);
}

/**
 * Builds the verifier from a loaded configuration. JWTs are verified against `jwks_url`, else
 * the `jwks_uri` that `metadata_url` names (after an exact issuer check), else
 * `options.keySource`; opaque tokens go to `introspection`. With both, a JWT-shaped token is
 * only ever verified as a JWT: when that fails it is refused, never sent to introspection.
 * Throws ConfigError when something verification needs is missing.
 */
export function createVerifierFromConfig(
  loaded: LoadedConfig,
  options: VerifierFromConfigOptions = {},
): ConfiguredVerifier {
  const rm = loaded.config.remote_mcp;
  const issuer = loaded.derived.issuer;
  if (issuer === undefined) {
    throw refused('remote_mcp.issuer', 'no issuer is configured', 'set remote_mcp.issuer');
  }
  const secret = loaded.secrets.tokenIdHmacSecret;
  if (secret === undefined) {
    throw refused(
      'remote_mcp.token_id_hmac_secret_env',
      'no token-id HMAC secret is configured',
      'name an environment variable holding at least 32 random bytes',
    );
  }
  const fetch =
    options.fetch ??
    createGuardedFetch({ allowLoopback: loaded.config.development.allow_loopback_urls });
  const now = options.now ?? Date.now;
  const common = {
    issuer,
    audiences: [...loaded.derived.audiences],
    allowedScopes: [...rm.allowed_scopes],
    tokenIdSecret: secret,
    clockSkewSeconds: Math.min(rm.clock_skew_seconds, MAX_CLOCK_SKEW_SECONDS),
    maxTokenLength: rm.max_token_length,
    maxTokenLifetimeSeconds: rm.max_token_lifetime_seconds,
    now,
    logger: options.logger,
    // Bound tokens pass verification only where some route accepts DPoP; each route then checks
    // the proof, or refuses the token (resource-server/presentation.ts).
    acceptDpopBound: loaded.config.upstreams.some((upstream) => upstream.dpop !== 'off'),
  };

  const keySource =
    rm.jwks_url !== undefined || rm.metadata_url !== undefined
      ? createRemoteKeySource({
          jwksUrl: rm.jwks_url,
          metadataUrl: rm.metadata_url,
          issuer,
          algorithms: [...rm.algorithms],
          fetch,
          maxAgeMs: rm.jwks_cache_max_age_seconds * 1000,
          cooldownMs: rm.jwks_refetch_cooldown_seconds * 1000,
          now,
          logger: options.logger,
        })
      : options.keySource;
  const jwt =
    keySource === undefined
      ? undefined
      : createAccessTokenVerifier({
          ...common,
          algorithms: [...rm.algorithms],
          requireAtJwtTyp: rm.require_at_jwt_typ,
          keys: keySource,
          cache: { maxEntries: rm.token_cache_max_entries, ttlSeconds: rm.token_cache_ttl_seconds },
        });

  const introspectionConfig = rm.introspection;
  let introspection: AccessTokenVerifier | undefined;
  if (introspectionConfig !== undefined) {
    const clientSecret = loaded.secrets.introspectionClientSecret;
    if (clientSecret === undefined) {
      throw refused(
        'remote_mcp.introspection.client_secret_env',
        'the introspection client secret is not set',
        `export ${introspectionConfig.client_secret_env}=…`,
      );
    }
    introspection = createIntrospectionVerifier({
      ...common,
      url: introspectionConfig.url,
      clientId: introspectionConfig.client_id,
      clientSecret,
      fetch,
      cacheTtlSeconds: introspectionConfig.cache_ttl_seconds,
      negativeCacheTtlSeconds: introspectionConfig.negative_cache_ttl_seconds,
      cacheMaxEntries: rm.token_cache_max_entries,
    });
  }

  if (jwt === undefined && introspection === undefined) {
    throw refused(
      'remote_mcp.jwks_url',
      'no way to verify tokens: no jwks_url, metadata_url, introspection or key source',
      'set remote_mcp.jwks_url or remote_mcp.metadata_url, or configure introspection',
    );
  }
  const modes = Object.freeze([
    ...(jwt ? (['jwt'] as const) : []),
    ...(introspection ? (['introspection'] as const) : []),
  ]);

  return {
    modes,
    keySource: jwt === undefined ? undefined : keySource,
    verify(token: string): Promise<VerifiedToken> {
      if (jwt !== undefined && (introspection === undefined || JWT_SHAPE.test(token))) {
        return jwt.verify(token);
      }
      if (introspection !== undefined) return introspection.verify(token);
      return Promise.reject(invalid('no verifier accepts this token'));
    },
    async warm() {
      await jwt?.warm();
    },
  };
}
