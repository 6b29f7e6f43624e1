import { type Config, type DerivedUpstream, derive, type LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import { describePolicy, McpPolicy } from '../mcp/index.ts';

/**
 * The route table: which path serves which upstream, with its resource URI, metadata URL and
 * policy. The request path is normalized once (normalizeRequestPath) and that one string is used
 * for routing and for policy alike.
 */

export type UpstreamSettings = LoadedConfig['config']['upstreams'][number];

export interface McpRoute {
  readonly kind: 'mcp';
  readonly path: string;
  readonly name: string;
  readonly transport: 'stdio' | 'http';
  readonly upstream: UpstreamSettings;
  readonly resource: string;
  /** The path-inserted protected resource metadata URL (RFC 9728 §3.1). */
  readonly resourceMetadataUrl: string;
  readonly metadataUrls: readonly string[];
  readonly isDefault: boolean;
  readonly policy: McpPolicy;
  /**
   * Token audiences accepted here: the route's own resource (MCP authorization: a token must
   * be issued for this resource, RFC 8707 §2), plus what the operator widened it to
   * (upstreams[].audiences, and remote_mcp.audiences when set, which applies to every route).
   */
  readonly acceptedAudiences: readonly string[];
}

export interface MetadataRouteEntry {
  readonly kind: 'metadata';
  readonly path: string;
  readonly route: McpRoute;
}

export interface GatewayEndpoint {
  readonly kind: 'healthz' | 'readyz' | 'metrics';
  readonly path: string;
}

export type RouteEntry = McpRoute | MetadataRouteEntry | GatewayEndpoint;

export interface RouteTable {
  readonly publicUrl: string;
  readonly routes: readonly McpRoute[];
  lookup(path: string): RouteEntry | undefined;
  describe(): RouteTableDescription;
}

export interface RouteTableDescription {
  readonly routes: readonly Record<string, unknown>[];
  readonly endpoints: readonly { path: string; serves: string }[];
}

/**
 * Builds the table. `actualPort` is the port the server really listens on: with port 0 in the
 * bind address and no public_url, resource URIs derive from it.
 */
export function buildRouteTable(
  loaded: LoadedConfig,
  options: { actualPort?: number; metadataServed?: boolean; metricsServed?: boolean } = {},
): RouteTable {
  const derived = deriveLive(loaded, options.actualPort);
  const everyRoute = loaded.config.remote_mcp.audiences ?? [];
  const routes = derived.upstreams.map((upstream, index) =>
    mcpRoute(upstream, loaded.config.upstreams[index] as UpstreamSettings, [
      // On an ephemeral port the resource as configured (port 0) names the same route.
      loaded.derived.upstreams[index]?.resource ?? upstream.resource,
      ...everyRoute,
    ]),
  );
  const entries = new Map<string, RouteEntry>();
  const metadataServed = options.metadataServed ?? false;
  for (const route of routes) {
    entries.set(route.path, route);
    if (!metadataServed) continue;
    for (const url of route.metadataUrls) {
      const path = new URL(url).pathname;
      if (!entries.has(path)) entries.set(path, { kind: 'metadata', path, route });
    }
  }
  entries.set('/healthz', { kind: 'healthz', path: '/healthz' });
  entries.set('/readyz', { kind: 'readyz', path: '/readyz' });
  if (options.metricsServed) entries.set('/metrics', { kind: 'metrics', path: '/metrics' });
  const publicUrl = derived.publicUrl ?? '';
  return {
    publicUrl,
    routes,
    lookup: (path) => entries.get(path),
    describe: () => ({
      routes: routes.map((route) => ({
        path: route.path,
        upstream: route.name,
        transport: route.transport,
        resource: route.resource,
        protected_resource_metadata: route.metadataUrls,
        default: route.isDefault,
        http_methods: ['POST', 'GET', 'DELETE'],
        tool_scopes: route.upstream.tool_scopes,
        method_scopes: route.upstream.method_scopes,
        policy: describePolicy(policyConfig(route.upstream)),
        max_sessions: route.upstream.max_sessions,
        session_idle_timeout_seconds: route.upstream.session_idle_timeout_seconds,
      })),
      endpoints: [...entries.values()]
        .filter((entry) => entry.kind !== 'mcp')
        .map((entry) => ({
          path: entry.path,
          serves:
            entry.kind === 'metadata'
              ? `protected resource metadata of ${entry.route.resource}`
              : entry.kind === 'healthz'
                ? 'liveness'
                : entry.kind === 'metrics'
                  ? 'Prometheus metrics (loopback deployment)'
                  : 'readiness: audit trail, token keys, upstreams (503 when one fails, or while shutting down)',
        })),
    }),
  };
}

function deriveLive(loaded: LoadedConfig, actualPort: number | undefined) {
  const { config, derived } = loaded;
  if (
    actualPort === undefined ||
    derived.bind.port !== 0 ||
    config.remote_mcp.public_url !== undefined
  ) {
    return derived;
  }
  const host = derived.bind.host.includes(':') ? `[${derived.bind.host}]` : derived.bind.host;
  const live = structuredClone(config) as Config;
  live.remote_mcp.bind_address = `${host}:${actualPort}`;
  return derive(live);
}

function policyConfig(upstream: UpstreamSettings) {
  return { toolScopes: upstream.tool_scopes, methodScopes: upstream.method_scopes };
}

function mcpRoute(
  derived: DerivedUpstream,
  upstream: UpstreamSettings,
  alsoAccepted: readonly string[],
): McpRoute {
  return Object.freeze({
    kind: 'mcp' as const,
    path: derived.path,
    name: derived.name,
    transport: derived.transport,
    upstream,
    resource: derived.resource,
    resourceMetadataUrl: derived.metadataUrls[0] ?? '',
    metadataUrls: derived.metadataUrls,
    isDefault: derived.isDefault,
    policy: new McpPolicy(policyConfig(upstream)),
    acceptedAudiences: [
      ...new Set([derived.resource, ...(upstream.audiences ?? []), ...alsoAccepted]),
    ],
  });
}

/**
 * The one normalization of a request target (RFC 9112 §3.2.1 origin-form). Anything that two
 * components could read differently is refused rather than repaired: percent-encoding (so no
 * encoded dots or slashes), backslashes, doubled slashes and dot segments. The query is dropped:
 * no MCP route uses it, and it is never forwarded.
 */
export function normalizeRequestPath(target: string): string {
  if (!target.startsWith('/')) {
    throw new RequestError('RequestMalformed', 'the request target must be an absolute path');
  }
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  if (path.includes('%')) {
    throw new RequestError('RequestMalformed', 'percent-encoded request paths are refused');
  }
  if (path.includes('\\')) {
    throw new RequestError('RequestMalformed', 'backslashes in the request path are refused');
  }
  if (path.includes('//')) {
    throw new RequestError('RequestMalformed', 'doubled slashes in the request path are refused');
  }
  // Every segment follows a slash, so a path without "/." has no dot segment (and is not split).
  if (
    path.includes('/.') &&
    path.split('/').some((segment) => segment === '.' || segment === '..')
  ) {
    throw new RequestError('RequestMalformed', 'dot segments in the request path are refused');
  }
  return path;
}
