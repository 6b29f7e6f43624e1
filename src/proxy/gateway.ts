import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import {
  type AuthStage,
  localTrust,
  type TokenAuthentication,
  tokenAuthentication,
} from './auth-stage.ts';
import { type GatewayRequest, handleMcpRequest } from './mcp-endpoint.ts';
import { MemoryRateLimiter, type RateLimiter } from './rate-limit.ts';
import { errorToResponse, jsonResponse } from './responses.ts';
import { buildRouteTable, type McpRoute, type RouteEntry, type RouteTable } from './routes.ts';
import { SessionRegistry, type UpstreamConnector } from './sessions.ts';
import { StdioConnector } from './upstreams/stdio-session.ts';
import { HttpConnector } from './upstreams/streamable-http.ts';

/**
 * The gateway behind the HTTP front: routes, authentication, policy, sessions and upstreams.
 * Takes checked requests and returns Web Responses; it never touches a socket.
 */

export interface GatewayOptions {
  readonly logger: Logger;
  /** Token verification for `auth: oauth` (from src/resource-server). Required in that mode. */
  readonly auth?: TokenAuthentication | undefined;
  /** Defaults to in-memory counters with the configured window. */
  readonly rateLimiter?: RateLimiter;
  /** The port actually listened on, when the bind address says 0. */
  readonly actualPort?: number;
}

export interface Gateway {
  readonly routes: RouteTable;
  readonly sessions: SessionRegistry;
  readonly auth: AuthStage;
  /** True once shutdown has begun: readiness fails, new sessions are refused. */
  readonly draining: boolean;
  handle(request: GatewayRequest, entry: RouteEntry): Promise<Response>;
  /** Stops accepting new sessions. */
  drain(): void;
  /** Closes every session (stopping child processes) and the upstream connections. */
  close(): Promise<void>;
}

/** Thrown when `auth: oauth` is configured but no token verification was supplied. */
export class VerificationNotAvailableError extends Error {
  override readonly name = 'VerificationNotAvailableError';
}

export function createGateway(loaded: LoadedConfig, options: GatewayOptions): Gateway {
  const { config } = loaded;
  const routes = buildRouteTable(loaded, {
    ...(options.actualPort === undefined ? {} : { actualPort: options.actualPort }),
    metadataServed: options.auth?.protectedResourceMetadata !== undefined,
  });
  const auth = authStageFor(loaded, routes, options.auth);
  const limiter =
    options.rateLimiter ??
    new MemoryRateLimiter({
      maxRequests: config.remote_mcp.rate_limit_max_requests,
      windowSeconds: config.remote_mcp.rate_limit_window_seconds,
    });
  const sessions = new SessionRegistry();
  const logger = options.logger;
  const connectors = new Map<McpRoute, UpstreamConnector>();
  for (const route of routes.routes) {
    connectors.set(
      route,
      route.transport === 'stdio'
        ? new StdioConnector(route, logger)
        : new HttpConnector(route, logger),
    );
  }
  const connectorFor = (route: McpRoute): UpstreamConnector => {
    const connector = connectors.get(route);
    if (connector === undefined) throw new Error(`no connector for ${route.path}`);
    return connector;
  };
  let draining = false;

  return {
    routes,
    sessions,
    auth,
    get draining() {
      return draining;
    },
    async handle(request, entry) {
      switch (entry.kind) {
        case 'healthz':
          return jsonResponse(JSON.stringify({ status: 'ok' }), 200, {
            'cache-control': 'no-store',
          });
        case 'readyz':
          return draining
            ? jsonResponse(JSON.stringify({ status: 'draining' }), 503, {
                'cache-control': 'no-store',
              })
            : jsonResponse(JSON.stringify({ status: 'ready' }), 200, {
                'cache-control': 'no-store',
              });
        case 'metadata':
          return metadataResponse(request, entry.route, options.auth);
        case 'mcp':
          // While draining, only requests already in flight finish; nothing new starts.
          if (draining && request.method !== 'DELETE') {
            return errorToResponse(
              new RequestError('UpstreamUnavailable', 'the gateway is shutting down', {
                details: { retryAfter: '5' },
              }),
              { connection: 'close' },
            );
          }
          return handleMcpRequest(entry, request, {
            auth,
            limiter,
            sessions,
            connectorFor,
            logger,
          });
      }
    },
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      await sessions.closeAll('gateway shutting down');
      await Promise.allSettled([...connectors.values()].map((connector) => connector.close()));
      await limiter.close();
    },
  };
}

function authStageFor(
  loaded: LoadedConfig,
  routes: RouteTable,
  auth: TokenAuthentication | undefined,
): AuthStage {
  if (loaded.config.remote_mcp.auth === 'none') {
    // Local trust: every scope the configuration can require.
    const scopes = new Set(loaded.config.remote_mcp.allowed_scopes);
    for (const route of routes.routes)
      for (const scope of route.policy.allScopes()) scopes.add(scope);
    return localTrust(scopes);
  }
  if (auth === undefined) {
    throw new VerificationNotAvailableError(
      'remote_mcp.auth is oauth but token verification is not available in this build; the gateway will not serve unauthenticated',
    );
  }
  return tokenAuthentication(auth);
}

function metadataResponse(
  request: GatewayRequest,
  route: McpRoute,
  auth: TokenAuthentication | undefined,
): Response {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return errorToResponse(
      new RequestError('MethodNotAllowed', `${request.method} is not supported here`, {
        details: { allow: 'GET, HEAD' },
      }),
    );
  }
  const build = auth?.protectedResourceMetadata;
  if (build === undefined) {
    return errorToResponse(new RequestError('RouteNotFound', 'no such endpoint'));
  }
  const document = build({
    path: route.path,
    resource: route.resource,
    scopes: [...new Set(route.policy.allScopes())],
  });
  return jsonResponse(JSON.stringify(document), 200, {
    'cache-control': 'public, max-age=300',
    'access-control-allow-origin': '*',
  });
}
