import type { AuditSink } from '../audit/index.ts';
import {
  type AuthorizationServer,
  createAuthorizationServer,
  PATHS,
  ProviderUpstreamCredentials,
} from '../authorization-server/index.ts';
import { type LoadedConfig, withBoundPort } from '../config/index.ts';
import {
  type AdminServer,
  type HttpFront,
  listenHttpFront,
  type MountedHandler,
  startAdminServer,
} from '../http/index.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { GatewayMetrics } from '../metrics/index.ts';
import {
  type AuthStage,
  createGateway,
  type Gateway,
  type RateLimiter,
  type ReadinessProbe,
  RequestObserver,
  SharedRateLimiter,
} from '../proxy/index.ts';
import { type ConfiguredDpop, createDpopFromConfig } from '../resource-server/index.ts';
import {
  openStore,
  RedisRateLimiter,
  RedisRevocationCache,
  RedisSessionDirectory,
  RedisStore,
  redisSettings,
  type Store,
} from '../store/index.ts';
import { openAuditSink } from './audit.ts';
import { tokenVerificationFor } from './authentication.ts';
import { lockAuditTrail, lockSqliteStore } from './writer-locks.ts';

/**
 * The one assembler: builds the whole server from a loaded configuration — audit trail, store,
 * co-located authorization server, token verification, rate limiter, metrics, gateway, HTTP
 * front and admin listener — and takes it apart again in the reverse order. `serve`, the tests
 * and the benchmark all start the server through here.
 */

export interface PortcullisOptions {
  /** Default: createLogger() (JSON lines on stderr, PORTCULLIS_LOG_LEVEL or info). */
  readonly logger?: Logger;
  /** Where relative store paths resolve; default: the process's working directory. */
  readonly cwd?: string;
  /**
   * The audit trail. Default: the config's `audit` block, opened here and closed by close().
   * A sink passed in is used and left open; false: nothing is audited.
   */
  readonly audit?: AuditSink | false;
  /**
   * The store of the co-located authorization server. Default: the config's `store` block,
   * opened here (when the authorization server is enabled) and closed by close(). A store
   * passed in is used and left open.
   */
  readonly store?: Store;
  /**
   * Replaces the token verification built from the config with another authentication stage
   * (test doubles). Without it, `auth: oauth` verifies bearer tokens as configured.
   */
  readonly authentication?: AuthStage;
  /** Default: in-memory counters with the configured window. */
  readonly rateLimiter?: RateLimiter;
  /** Prometheus metrics; default: a new GatewayMetrics (disposed at close); false: none. */
  readonly metrics?: GatewayMetrics | false;
  /** More readiness checks for /readyz (the store's is added when a store is in use). */
  readonly readinessProbes?: readonly ReadinessProbe[];
}

export interface RunningPortcullis {
  /** The gateway's public origin (the live port when the bind address says 0). */
  readonly url: string;
  readonly port: number;
  readonly gateway: Gateway;
  readonly front: HttpFront;
  /** The public listener (node:http). */
  readonly server: HttpFront['server'];
  /** The admin listener's origin (remote_mcp.admin_bind_address), when configured. */
  readonly adminUrl: string | undefined;
  readonly metrics: GatewayMetrics | undefined;
  /** The co-located authorization server, when `authorization_server.enabled`. */
  readonly authorizationServer: AuthorizationServer | undefined;
  readonly store: Store | undefined;
  readonly audit: AuditSink | undefined;
  /**
   * Graceful shutdown: stop accepting, end SSE streams, drain requests, stop children, then
   * close what this assembler opened (authorization server, store, audit trail).
   */
  close(): Promise<void>;
}

/** Starts Portcullis over HTTP as `loaded` describes. */
export async function startPortcullis(
  configured: LoadedConfig,
  options: PortcullisOptions = {},
): Promise<RunningPortcullis> {
  const logger = options.logger ?? createLogger();
  // Everything opened so far, closed in reverse if a later step fails.
  const undo: Undo = [];
  const unwind = async () => {
    const failures: unknown[] = [];
    for (const step of undo.reverse()) await Promise.resolve(step()).catch((e) => failures.push(e));
    if (failures.length > 0) throw failures[0];
  };
  try {
    // First, so that what happens at start (the first key-set fetch, say) is counted too.
    const metrics =
      options.metrics === false ? undefined : (options.metrics ?? new GatewayMetrics());
    if (options.metrics === undefined) undo.push(() => metrics?.dispose());
    const audit = openAudit(configured, options, logger, undo);
    const observer = new RequestObserver({
      sink: audit,
      onWriteFailure: configured.config.audit.on_write_failure,
    });

    const { front, loaded, mount, closeFront } = await bindFront(configured, {
      logger,
      observer,
      undo,
    });

    const { store, authorizationServer, dpop } = await openAuthorizationServer(
      loaded,
      options,
      { logger, audit },
      undo,
    );
    mount(authorizationServer);
    const shared = openSharedState(loaded, options, store, undo);
    const authentication =
      options.authentication ??
      (await tokenAuthentication(
        loaded,
        logger,
        withRevocationCache(authorizationServer, shared),
        // Without the co-located server, the gateway's own Redis connection (when configured)
        // keeps used proof ids, so every replica sees every proof.
        dpop ?? createDpopFromConfig(loaded, shared === undefined ? {} : { store: shared.store }),
      ));

    const probes = [
      ...(store === undefined ? [] : [storeProbe(store)]),
      ...(shared !== undefined && shared.store !== store ? [storeProbe(shared.store)] : []),
      ...(options.readinessProbes ?? []),
    ];
    const upstreamCredentials = providerCredentialsFor(loaded, authorizationServer, store, logger);
    const gateway = createGateway(loaded, {
      logger,
      auth: authentication,
      ...(upstreamCredentials === undefined ? {} : { upstreamCredentials }),
      ...sharedGatewayState(options, shared),
      actualPort: front.port,
      observer,
      // Metrics on the public listener only when nothing but this machine can reach it.
      ...(metrics !== undefined && loaded.derived.metricsListener === 'main' ? { metrics } : {}),
      ...(probes.length === 0 ? {} : { readinessProbes: probes }),
    });
    // The front closes first (draining requests in flight), then the gateway's sessions, then
    // what they used.
    undo.splice(undo.indexOf(closeFront), 1);
    undo.push(() => gateway.close(), closeFront);
    front.serve(gateway);
    metrics?.setSources({
      openConnections: () => front.connections.open,
      sessions: () => gateway.sessions.size,
      childProcesses: () => gateway.childProcesses(),
      ...(audit === undefined ? {} : { auditSinkHealthy: () => observer.sink?.healthy ?? true }),
    });

    let admin: AdminServer | undefined;
    if (loaded.derived.admin !== undefined) {
      const started = await startAdminServer({
        bind: loaded.derived.admin,
        gateway,
        metrics,
        logger,
        ...(authorizationServer === undefined ? {} : { pages: authorizationServer }),
      });
      undo.push(() => started.close());
      admin = started;
    } else if (metrics !== undefined && loaded.derived.metricsListener === 'none') {
      logger.warn(
        'metrics are not served: the gateway is reachable beyond this machine and remote_mcp.admin_bind_address is not set',
      );
    }
    logger.info(
      {
        url: gateway.routes.publicUrl,
        routes: gateway.routes.routes.map(
          (route) => `${route.path} → ${route.name} (${route.transport})`,
        ),
        auth: gateway.auth.mode,
      },
      'gateway listening',
    );

    let closing: Promise<void> | undefined;
    return {
      url: gateway.routes.publicUrl,
      port: front.port,
      gateway,
      front,
      server: front.server,
      adminUrl: admin?.url,
      metrics,
      authorizationServer,
      store,
      audit,
      close() {
        closing ??= unwind().then(() => logger.info('gateway stopped'));
        return closing;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

type Undo = (() => Promise<void> | void)[];

/**
 * The public listener, bound before anything reads a URL derived from the bind address: with
 * port 0 there the system picks the port, and `loaded` names it (withBoundPort). Requests get
 * 503 until the gateway serves; the co-located authorization server is mounted once it exists.
 */
async function bindFront(
  configured: LoadedConfig,
  context: { logger: Logger; observer: RequestObserver; undo: Undo },
): Promise<{
  front: HttpFront;
  loaded: LoadedConfig;
  mount: (server: AuthorizationServer | undefined) => void;
  closeFront: () => Promise<void>;
}> {
  let mounted: AuthorizationServer | undefined;
  const handler: MountedHandler = {
    handle: async (request, requestContext) => mounted?.handle(request, requestContext),
  };
  const front = await listenHttpFront(configured, {
    logger: context.logger,
    observer: context.observer,
    ...(configured.config.authorization_server.enabled ? { mounted: handler } : {}),
  });
  const closeFront = () => front.close();
  context.undo.push(closeFront);
  return {
    front,
    loaded: withBoundPort(configured, front.port),
    mount: (server) => {
      mounted = server;
    },
    closeFront,
  };
}

/** What replicas on one Redis share besides the authorization server's state. */
interface SharedState {
  readonly store: RedisStore;
  /**
   * Rate limits counted once across every replica, one round trip per request (the address
   * screened in memory first: SharedRateLimiter).
   */
  readonly rateLimiter: RateLimiter;
  /** Revocations from every replica, answered from memory while the subscription is live. */
  readonly revocations: RedisRevocationCache;
  /** Legacy sessions of HTTP upstreams, served by any replica. */
  readonly sessions: RedisSessionDirectory;
}

/**
 * With `store.redis`, the gateway's rate limits and revocation checks go through Redis too, so
 * several replicas behind a load balancer act as one: the authorization server's store when it
 * is a Redis store, else a connection opened for the gateway alone.
 */
function openSharedState(
  loaded: LoadedConfig,
  options: PortcullisOptions,
  store: Store | undefined,
  undo: Undo,
): SharedState | undefined {
  let redis: RedisStore | undefined;
  if (store instanceof RedisStore) {
    redis = store;
  } else if (store === undefined && loaded.config.store.redis !== undefined) {
    const opened = new RedisStore(redisSettings(loaded, options.cwd ?? process.cwd()));
    undo.push(() => opened.close());
    redis = opened;
  }
  if (redis === undefined) return undefined;
  const rm = loaded.config.remote_mcp;
  const limits = {
    maxRequests: rm.rate_limit_max_requests,
    windowSeconds: rm.rate_limit_window_seconds,
  };
  const revocations = new RedisRevocationCache(redis);
  // Subscribed in the background: until it is, every check reads Redis (never a stale answer).
  void revocations.start().catch(() => {});
  undo.push(() => revocations.close());
  const sessions = new RedisSessionDirectory(redis);
  void sessions.start().catch(() => {});
  undo.push(() => sessions.close());
  return {
    store: redis,
    rateLimiter: new SharedRateLimiter(new RedisRateLimiter(redis, limits), limits),
    revocations,
    sessions,
  };
}

/** The rate limiter (one passed in wins) and the shared sessions of the gateway. */
function sharedGatewayState(
  options: PortcullisOptions,
  shared: SharedState | undefined,
): { rateLimiter?: RateLimiter; sharedSessions?: RedisSessionDirectory } {
  const rateLimiter = options.rateLimiter ?? shared?.rateLimiter;
  return {
    ...(rateLimiter === undefined ? {} : { rateLimiter }),
    ...(shared === undefined ? {} : { sharedSessions: shared.sessions }),
  };
}

/** The co-located server's revocation check, answered through the replica's cache. */
function withRevocationCache(
  server: AuthorizationServer | undefined,
  shared: SharedState | undefined,
): Pick<AuthorizationServer, 'publicKeySet' | 'reloadKeys' | 'isAccessTokenRevoked'> | undefined {
  if (server === undefined || shared === undefined) return server;
  return {
    publicKeySet: () => server.publicKeySet(),
    reloadKeys: () => server.reloadKeys(),
    isAccessTokenRevoked: (jti) => shared.revocations.isAccessTokenRevoked(jti),
  };
}

/** The audit trail: the one passed in (left open), none, or the config's (closed on undo). */
function openAudit(
  loaded: LoadedConfig,
  options: PortcullisOptions,
  logger: Logger,
  undo: Undo,
): AuditSink | undefined {
  if (options.audit === false) return undefined;
  if (options.audit !== undefined) return options.audit;
  const lock = lockAuditTrail(loaded);
  if (lock !== undefined) undo.push(() => lock.release());
  const opened = openAuditSink(loaded, logger);
  undo.push(() => opened.close());
  return opened;
}

/** The co-located authorization server and its store, when the config enables it. */
async function openAuthorizationServer(
  loaded: LoadedConfig,
  options: PortcullisOptions,
  context: { logger: Logger; audit: AuditSink | undefined },
  undo: Undo,
): Promise<{ store?: Store; authorizationServer?: AuthorizationServer; dpop?: ConfiguredDpop }> {
  if (!loaded.config.authorization_server.enabled) return {};
  let store = options.store;
  if (store === undefined) {
    const lock = lockSqliteStore(loaded, options.cwd ?? process.cwd());
    if (lock !== undefined) undo.push(() => lock.release());
    const opened = openStore(loaded, options.cwd ?? process.cwd());
    undo.push(() => opened.close());
    store = opened;
  }
  // One DPoP setup for the gateway and its token endpoint: the same nonces, algorithms and
  // (with Redis) the shared memory of used proofs.
  const dpop = createDpopFromConfig(loaded, { store });
  const authorizationServer = await createAuthorizationServer(loaded, {
    store,
    logger: context.logger,
    ...(context.audit === undefined ? {} : { audit: context.audit }),
    ...(dpop.tokenEndpointProofs === undefined ? {} : { dpopProofs: dpop.tokenEndpointProofs }),
  });
  undo.push(() => authorizationServer.close());
  return { store, authorizationServer, dpop };
}

/** Bearer-token authentication as configured (undefined for `auth: none`), keys loaded. */
async function tokenAuthentication(
  loaded: LoadedConfig,
  logger: Logger,
  authorizationServer:
    | (Pick<AuthorizationServer, 'publicKeySet' | 'isAccessTokenRevoked'> &
        Partial<Pick<AuthorizationServer, 'reloadKeys'>>)
    | undefined,
  dpop: ConfiguredDpop,
): Promise<AuthStage | undefined> {
  const verification = tokenVerificationFor(loaded, { logger, authorizationServer, dpop });
  if (verification === undefined) return undefined;
  // Load the key set before listening; if the issuer is unreachable now, serve anyway
  // (requests get 503 AuthUnavailable until keys load) and say so.
  await verification.verifier.warm().catch((error: unknown) => {
    logger.warn(
      { err: error },
      'token keys could not be loaded yet; requests get 503 until they are',
    );
  });
  return verification.stage;
}

/** Per-person upstream credentials, when an upstream takes them from an identity provider. */
function providerCredentialsFor(
  loaded: LoadedConfig,
  authorizationServer: AuthorizationServer | undefined,
  store: Store | undefined,
  logger: Logger,
): ProviderUpstreamCredentials | undefined {
  const federation = authorizationServer?.federation;
  if (federation === undefined || store === undefined) return undefined;
  return new ProviderUpstreamCredentials(loaded, {
    federation,
    store,
    logger,
    // Where the person signs in again: the sign-in page, even when a session exists.
    signInUrl: `${new URL(authorizationServer?.issuer ?? '').origin}${PATHS.login}?prompt=login`,
  });
}

/** Readiness of the store: a cheap read answers (its value does not matter). */
function storeProbe(store: Store): ReadinessProbe {
  return async () => {
    try {
      await store.isAccessTokenRevoked('readiness-probe');
      return { name: 'store', ok: true, detail: 'readable' };
    } catch {
      return { name: 'store', ok: false, detail: 'cannot read' };
    }
  };
}
