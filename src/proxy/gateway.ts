import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import { type AuthStage, localTrust } from './auth-stage.ts';
import { type EndpointDeps, type GatewayRequest, handleMcpRequest } from './mcp-endpoint.ts';
import { ModernRuntime } from './modern/runtime.ts';
import { MemoryRateLimiter, type RateLimiter } from './rate-limit.ts';
import { type ReadinessCheck, type ReadinessProbe, readinessOf } from './readiness.ts';
import { RequestObserver } from './request-facts.ts';
import { type Answer, BoundedAnswer, errorToResponse, jsonResponse } from './responses.ts';
import { buildRouteTable, type McpRoute, type RouteTable } from './routes.ts';
import { SessionRegistry, type SharedSessions, type UpstreamConnector } from './sessions.ts';
import { StreamLeases } from './stream-leases.ts';
import type { UpstreamCredentialSource } from './upstream-credentials.ts';
import { StdioConnector } from './upstreams/stdio-session.ts';
import { HttpConnector } from './upstreams/streamable-http.ts';

/**
 * The gateway behind the HTTP front: routes, authentication, policy, sessions and upstreams.
 * Answers checked requests for the route the front's router found (src/http/routing.ts); it
 * never touches a socket.
 */

export interface GatewayOptions {
  readonly logger: Logger;
  /**
   * The authentication stage for `auth: oauth` (bearerAuthentication, built by the assembler).
   * Required in that mode; under `auth: none` the gateway uses local trust.
   */
  readonly auth?: AuthStage | undefined;
  /** Defaults to in-memory counters with the configured window. */
  readonly rateLimiter?: RateLimiter;
  /** The port actually listened on, when the bind address says 0. */
  readonly actualPort?: number;
  /** Audit and request metrics; default: no audit trail. */
  readonly observer?: RequestObserver;
  /** Serves /metrics on this listener when given (a loopback-only deployment). */
  readonly metrics?: { render(): Promise<{ contentType: string; body: string }> };
  /** More readiness checks (the store, say), run with the built-in ones. */
  readonly readinessProbes?: readonly ReadinessProbe[];
  /** Per-person credentials for upstreams that use identity_provider_token or token_exchange. */
  readonly upstreamCredentials?: UpstreamCredentialSource;
  /** Sessions of HTTP upstreams shared with other replicas (a shared store); default: none. */
  readonly sharedSessions?: SharedSessions;
}

/** What /readyz reports. */
export interface Readiness {
  readonly status: 'ready' | 'not_ready' | 'draining';
  readonly checks: readonly ReadinessCheck[];
}

export interface Gateway {
  readonly routes: RouteTable;
  readonly sessions: SessionRegistry;
  /** Server-to-client streams held open, each ended when its credential lapses. */
  readonly streams: StreamLeases;
  readonly auth: AuthStage;
  /** True once shutdown has begun: readiness fails, new sessions are refused. */
  readonly draining: boolean;
  readonly observer: RequestObserver;
  /** An MCP endpoint: the stages of src/proxy/mcp-endpoint.ts. */
  mcp(request: GatewayRequest, route: McpRoute): Promise<Answer>;
  /** /healthz: the process answers. */
  healthz(): BoundedAnswer;
  /** /readyz: every readiness check, 503 when one fails. */
  readyz(): Promise<BoundedAnswer>;
  /** /metrics on this listener (loopback-only deployments). */
  metrics(request: GatewayRequest): Promise<BoundedAnswer>;
  /** A route's protected resource metadata document (RFC 9728 §3). */
  metadata(request: GatewayRequest, route: McpRoute): BoundedAnswer;
  /** Key set loaded, upstreams reachable or startable, audit trail writable, not draining. */
  readiness(): Promise<Readiness>;
  /** Child processes of stdio upstreams running now. */
  childProcesses(): number;
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
    metricsServed: options.metrics !== undefined,
  });
  const observer = options.observer ?? new RequestObserver();
  const auth = authStageFor(loaded, routes, options.auth);
  const limiter =
    options.rateLimiter ??
    new MemoryRateLimiter({
      maxRequests: config.remote_mcp.rate_limit_max_requests,
      windowSeconds: config.remote_mcp.rate_limit_window_seconds,
    });
  const sessions = new SessionRegistry(
    options.sharedSessions === undefined ? {} : { shared: options.sharedSessions },
  );
  const streams = new StreamLeases();
  const logger = options.logger;
  const connectors = new Map<McpRoute, UpstreamConnector>();
  for (const route of routes.routes) {
    connectors.set(
      route,
      route.transport === 'stdio'
        ? new StdioConnector(route, logger)
        : new HttpConnector(route, logger, options.upstreamCredentials),
    );
  }
  const legacyConnectorFor = (route: McpRoute): UpstreamConnector => {
    const connector = connectors.get(route);
    if (connector === undefined) throw new Error(`no connector for ${route.path}`);
    return connector;
  };
  // Protocol eras (docs/protocol-eras.md): an upstream's era is resolved on first use, so that
  // nothing reaches an upstream before a client asks for it.
  const modern = new ModernRuntime({
    logger,
    legacyConnectorFor,
    protocolOf: (route) => route.upstream.protocol,
  });
  const connectorFor = (route: McpRoute): UpstreamConnector => modern.connectorFor(route);
  let draining = false;
  const keysReady = options.auth?.readiness;
  const probes: ReadinessProbe[] = [
    () => ({ name: 'audit', ...observer.auditReadiness() }),
    ...(keysReady === undefined ? [] : [() => ({ name: 'token_keys', ...keysReady() })]),
    ...[...connectors.values()].flatMap((connector) =>
      connector.probe === undefined
        ? []
        : [cachedProbe(`upstream:${connector.route.name}`, () => connector.probe?.())],
    ),
    ...(options.readinessProbes ?? []),
  ];
  // What every MCP endpoint shares: built once, not per request.
  const endpointDeps: EndpointDeps = {
    auth,
    limiter,
    sessions,
    connectorFor,
    logger,
    streams,
    modern,
    decisionLevel: observer.sink === undefined ? 'info' : 'debug',
  };
  const readiness = async (): Promise<Readiness> => {
    if (draining) return { status: 'draining', checks: [] };
    const checks = [...(await readinessOf(probes)), ...protocolChecks(routes.routes, modern)];
    return { status: checks.every((check) => check.ok) ? 'ready' : 'not_ready', checks };
  };

  return {
    routes,
    sessions,
    streams,
    auth,
    observer,
    get draining() {
      return draining;
    },
    readiness,
    childProcesses: () => {
      let count = 0;
      for (const connector of connectors.values()) count += connector.childProcesses ?? 0;
      return count;
    },
    healthz: () =>
      jsonResponse(JSON.stringify({ status: 'ok' }), 200, { 'cache-control': 'no-store' }),
    readyz: async () => readinessResponse(await readiness()),
    metrics: (request) => metricsResponse(request, options.metrics),
    metadata: (request, route) => metadataResponse(request, route, options.auth),
    mcp(request, route) {
      // While draining, only requests already in flight finish; nothing new starts.
      if (draining && request.method !== 'DELETE') {
        request.facts.reason = 'UpstreamUnavailable';
        return Promise.resolve(
          errorToResponse(
            new RequestError('UpstreamUnavailable', 'the gateway is shutting down', {
              details: { retryAfter: '5' },
            }),
            { connection: 'close' },
          ),
        );
      }
      // Rather refuse than serve unaudited (audit.on_write_failure: refuse). Not an async
      // function: the stages' own promise is returned as is, without another around it.
      try {
        observer.checkAuditWritable();
      } catch (error) {
        return Promise.reject(error);
      }
      return handleMcpRequest(route, request, endpointDeps);
    },
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      streams.close();
      await sessions.closeAll('gateway shutting down');
      await modern.close();
      await Promise.allSettled([...connectors.values()].map((connector) => connector.close()));
      await limiter.close();
    },
  };
}

function authStageFor(
  loaded: LoadedConfig,
  routes: RouteTable,
  auth: AuthStage | undefined,
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
  return auth;
}

/** /readyz: 200 when every check passes; the body names each check (no paths, no secrets). */
export function readinessResponse(readiness: Readiness): BoundedAnswer {
  const checks: Record<string, string> = {};
  for (const check of readiness.checks)
    checks[check.name] = check.ok ? check.detail : `FAILING: ${check.detail}`;
  return jsonResponse(
    JSON.stringify({ status: readiness.status, checks }),
    readiness.status === 'ready' ? 200 : 503,
    { 'cache-control': 'no-store' },
  );
}

async function metricsResponse(
  request: GatewayRequest,
  metrics: GatewayOptions['metrics'],
): Promise<BoundedAnswer> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    throw new RequestError('MethodNotAllowed', `${request.method} is not supported here`, {
      details: { allow: 'GET, HEAD' },
    });
  }
  if (metrics === undefined) throw new RequestError('RouteNotFound', 'no such endpoint');
  const { contentType, body } = await metrics.render();
  return new BoundedAnswer(
    200,
    { 'content-type': contentType, 'cache-control': 'no-store' },
    request.method === 'HEAD' ? undefined : body,
  );
}

/**
 * A probe whose answer is reused for a few seconds, with one probe in flight at a time: /readyz
 * may be asked often (and, on the public listener, by anyone) without becoming a connection
 * flood towards the upstreams.
 */
function cachedProbe(
  name: string,
  probe: () => Promise<{ ok: boolean; detail: string }> | undefined,
  ttlMs = 5000,
): ReadinessProbe {
  let last: { at: number; check: ReadinessCheck } | undefined;
  let pending: Promise<ReadinessCheck> | undefined;
  return async () => {
    if (last !== undefined && Date.now() - last.at < ttlMs) return last.check;
    pending ??= (async () => {
      try {
        const result = (await probe()) ?? { ok: true, detail: '' };
        last = { at: Date.now(), check: { name, ...result } };
        return last.check;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

function metadataResponse(
  request: GatewayRequest,
  route: McpRoute,
  auth: AuthStage | undefined,
): BoundedAnswer {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    throw new RequestError('MethodNotAllowed', `${request.method} is not supported here`, {
      details: { allow: 'GET, HEAD' },
    });
  }
  const build = auth?.protectedResourceMetadata;
  if (build === undefined) throw new RequestError('RouteNotFound', 'no such endpoint');
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

/**
 * The era of each upstream whose era says something: a probe has run, or `protocol` pins it.
 * Reported, never probed from here: /readyz must not become traffic to the upstreams.
 */
function protocolChecks(routes: readonly McpRoute[], modern: ModernRuntime): ReadinessCheck[] {
  return routes.flatMap((route) => {
    const described = modern.describe(route);
    if (!described.probed && described.protocol === 'auto') return [];
    return [
      {
        name: `protocol:${route.name}`,
        ok: !(described.probed && described.era === 'undecided'),
        detail: `${described.era} (protocol ${described.protocol})`,
      },
    ];
  });
}
