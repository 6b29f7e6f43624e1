import { missingHttpGates } from './gates.ts';
import { formatKeyPath } from './key-path.ts';
import { isSensitivePath, type LoadedConfig } from './load.ts';
import { RESERVED_PATHS } from './rules.ts';

export const REDACTED = '<redacted>';

export interface DescribeOptions {
  readonly transport: 'http' | 'stdio';
  readonly enableRemoteMcpFlag: boolean;
}

/**
 * What `serve` would do, as plain data for `serve --describe`: routes, resources, metadata URLs,
 * scopes and limits, plus the effective config with every secret replaced by `<redacted>`.
 */
export function describeConfig(
  loaded: LoadedConfig,
  options: DescribeOptions,
): Record<string, unknown> {
  const { config, derived } = loaded;
  const rm = config.remote_mcp;
  const missing = missingHttpGates(loaded, options.enableRemoteMcpFlag);
  return {
    source: loaded.source,
    transport: options.transport,
    http: {
      bind_address: rm.bind_address,
      public_url: derived.publicUrl ?? null,
      would_serve: options.transport === 'http' && missing.length === 0,
      missing_switches: missing,
    },
    auth: {
      mode: rm.auth,
      issuer: derived.issuer ?? null,
      audiences: derived.audiences,
      algorithms: rm.algorithms,
      allowed_scopes: rm.allowed_scopes,
      key_source: rm.jwks_url
        ? { jwks_url: rm.jwks_url }
        : rm.metadata_url
          ? { metadata_url: rm.metadata_url }
          : config.authorization_server.enabled
            ? { co_located_authorization_server: true }
            : rm.introspection
              ? { introspection_url: rm.introspection.url }
              : null,
      token_id_hmac_secret: loaded.secrets.tokenIdHmacSecret ? REDACTED : null,
    },
    routes: derived.upstreams.map((upstream, index) => {
      const source = config.upstreams[index];
      return {
        path: upstream.path,
        upstream: upstream.name,
        transport: upstream.transport,
        target:
          upstream.transport === 'http'
            ? redactUrl(loaded, `upstreams[${index}].url`, source?.url ?? '')
            : redactValue(loaded, `upstreams[${index}].command`, source?.command ?? ''),
        resource: upstream.resource,
        protocol: upstream.transport === 'stdio' ? '2025-11-25' : (source?.protocol ?? 'auto'),
        protected_resource_metadata: upstream.metadataUrls,
        default: upstream.isDefault,
        tool_scopes: source?.tool_scopes ?? {},
        unmapped_tools:
          source?.tool_scopes['*'] === undefined
            ? 'hidden and refused'
            : `need ${source.tool_scopes['*']}`,
      };
    }),
    gateway_endpoints: {
      reserved_paths: RESERVED_PATHS,
      health: '/healthz',
      readiness: '/readyz',
      metrics:
        derived.metricsListener === 'admin'
          ? `/metrics on the admin listener ${config.remote_mcp.admin_bind_address}`
          : derived.metricsListener === 'main'
            ? '/metrics on this (loopback) listener'
            : 'not served: set remote_mcp.admin_bind_address',
      admin_listener: config.remote_mcp.admin_bind_address ?? null,
    },
    authorization_server: config.authorization_server.enabled
      ? {
          issuer: derived.authorizationServerIssuer ?? null,
          metadata: derived.authorizationServerIssuer
            ? wellKnown(derived.authorizationServerIssuer, 'oauth-authorization-server')
            : null,
          dynamic_registration: config.authorization_server.dynamic_registration,
          client_id_metadata_documents: config.authorization_server.client_id_metadata_documents,
          access_token_ttl_seconds: config.authorization_server.access_token_ttl_seconds,
          refresh_token_ttl_seconds: config.authorization_server.refresh_token_ttl_seconds,
          // The redirect URI to register at every provider: one fixed path.
          identity_providers: config.authorization_server.identity_providers.map((provider) => ({
            name: provider.name,
            profile: provider.profile,
            issuer: provider.issuer ?? null,
            display_name: provider.display_name ?? provider.name,
            redirect_uri: derived.authorizationServerIssuer
              ? `${new URL(derived.authorizationServerIssuer).origin}/oauth/idp/callback`
              : null,
            claim_rules: provider.claim_rules?.length ?? 0,
          })),
        }
      : null,
    limits: {
      max_connections: rm.max_connections,
      rate_limit_max_requests: rm.rate_limit_max_requests,
      rate_limit_window_seconds: rm.rate_limit_window_seconds,
      clock_skew_seconds: rm.clock_skew_seconds,
    },
    store: config.store.redis
      ? { redis: redactUrl(loaded, 'store.redis', config.store.redis) }
      : { sqlite: config.store.sqlite },
    config: redactTree(loaded, config, []),
  };
}

/** RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path. */
function wellKnown(issuer: string, suffix: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/${suffix}${path}`;
}

function redactValue(loaded: LoadedConfig, keyPath: string, value: string): string {
  return isSensitivePath(loaded, keyPath) ? REDACTED : value;
}

/** URLs keep their shape but lose credentials in the userinfo part. */
function redactUrl(loaded: LoadedConfig, keyPath: string, value: string): string {
  if (isSensitivePath(loaded, keyPath)) return REDACTED;
  if (!URL.canParse(value)) return value;
  const url = new URL(value);
  if (url.password) url.password = 'redacted';
  return url.href;
}

function redactTree(loaded: LoadedConfig, node: unknown, path: PropertyKey[]): unknown {
  const keyPath = formatKeyPath(path);
  if (
    path.length > 0 &&
    isSensitivePath(loaded, keyPath) &&
    (typeof node !== 'object' || node === null)
  ) {
    return REDACTED;
  }
  if (Array.isArray(node))
    return node.map((item, index) => redactTree(loaded, item, [...path, index]));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([key, child]) => [key, redactTree(loaded, child, [...path, key])]),
    );
  }
  if (typeof node === 'string' && /^(redis|rediss|https?):\/\//.test(node)) {
    return redactUrl(loaded, keyPath, node);
  }
  return node;
}
