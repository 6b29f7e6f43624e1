import { performance } from 'node:perf_hooks';
import type { JSONWebKeySet } from 'jose';
import type { LoadedConfig } from '../config/index.ts';
import { type Logger, logAccess } from '../lib/log.ts';
import { createGuardedFetch, type GuardedFetch } from '../net/index.ts';
import { createStoreReplayCache, type Store } from '../store/index.ts';
import {
  METADATA_DOCUMENT_MAX_BYTES,
  MetadataDocumentResolver,
} from './clients/metadata-documents.ts';
import { ClientRegistry } from './clients/registry.ts';
import { cookiePathConfinedFor } from './cookie-scope.ts';
import type { AuthorizationServerDpop, TokenEndpointProofs } from './dpop-binding.ts';
import { Federation } from './federation/federation.ts';
import { type AssertionGrant, ID_JAG_PROFILE } from './grants/jwt-bearer.ts';
import { ensureSigningKey, KeyRing } from './keys.ts';
import { adminRoutesFor, dispatch, routesFor } from './router.ts';
import type { AuditRecorder, RequestContext, Services } from './services.ts';
import { LIMITS, type Settings, settingsFrom } from './settings.ts';
import { createIssuerKeys, trustedProvidersFrom } from './trusted-issuers.ts';

export interface AuthorizationServerDeps {
  /** Where users, clients, codes, tokens and keys live; the caller opens and closes it. */
  readonly store: Store;
  readonly logger?: Logger;
  readonly audit?: AuditRecorder;
  /**
   * Fetch for client ID metadata documents. Default: the SSRF-guarded fetch with a 5 KiB cap and
   * loopback allowed only under development.allow_loopback_urls.
   */
  readonly fetch?: GuardedFetch;
  /** Clock in milliseconds; tests move it. Default Date.now. */
  readonly now?: () => number;
  /**
   * The DPoP proof checker for the token endpoint (resource-server's, in its token-endpoint
   * form). Without it, or when no upstream accepts DPoP, proofs are ignored and tokens are Bearer.
   */
  readonly dpopProofs?: TokenEndpointProofs;
  /** Fetch for trusted identity providers' JWKS. Default: the SSRF-guarded fetch. */
  readonly issuerKeysFetch?: GuardedFetch;
}

/** Leeway for assertion times, as for access tokens. */
const ASSERTION_SKEW_SECONDS = 60;

function dpopFor(
  loaded: LoadedConfig,
  proofs: TokenEndpointProofs | undefined,
): AuthorizationServerDpop | undefined {
  if (proofs === undefined) return undefined;
  const resourcesWhere = (accept: (mode: string) => boolean) => {
    const names = new Set(
      loaded.config.upstreams.filter((upstream) => accept(upstream.dpop)).map((u) => u.name),
    );
    return new Set(
      loaded.derived.upstreams
        .filter((upstream) => names.has(upstream.name))
        .map((u) => u.resource),
    );
  };
  const resources = resourcesWhere((mode) => mode !== 'off');
  const required = resourcesWhere((mode) => mode === 'required');
  return resources.size === 0 ? undefined : { proofs, resources, required };
}

function assertionsFor(
  loaded: LoadedConfig,
  settings: Settings,
  store: Store,
  deps: AuthorizationServerDeps,
  now: () => number,
): AssertionGrant | undefined {
  const providers = trustedProvidersFrom(loaded);
  if (providers.length === 0) return undefined;
  const longest = Math.max(...providers.map((provider) => provider.maxLifetimeSeconds));
  return {
    providers,
    profiles: providers.some((provider) => provider.kind === 'id-jag') ? [ID_JAG_PROFILE] : [],
    keys: createIssuerKeys({
      fetch:
        deps.issuerKeysFetch ??
        createGuardedFetch({ allowLoopback: settings.allowLoopbackUrls, timeoutMs: 5000 }),
      now,
      logger: deps.logger,
    }),
    replay: createStoreReplayCache(store, {
      namespace: 'jwt-bearer',
      windowMs: (longest + 2 * ASSERTION_SKEW_SECONDS) * 1000,
    }),
    skewSeconds: ASSERTION_SKEW_SECONDS,
  };
}

/** The co-located authorization server, as the gateway mounts it. */
export interface AuthorizationServer {
  readonly issuer: string;
  /**
   * Answers a request for one of the server's routes (the RFC 8414 / OIDC well-knowns and
   * everything under /oauth/); resolves to undefined for any other path.
   */
  handle(request: Request, context?: RequestContext): Promise<Response | undefined>;
  /**
   * Answers the admin listener's share: the admin page and its sign-in, when
   * remote_mcp.admin_bind_address is set (undefined for any other path).
   */
  handleAdmin(request: Request, context?: RequestContext): Promise<Response | undefined>;
  /** The public signing keys (the JWKS); the gateway verifies local tokens with these directly. */
  publicKeySet(): Promise<JSONWebKeySet>;
  /**
   * Makes the next key read go to the store: a token named a key this process has not loaded,
   * which another process sharing the store (a replica, `keys rotate`) may have just created.
   */
  reloadKeys(): void;
  /** True when the access token with this `jti` was revoked (itself or its grant). */
  isAccessTokenRevoked(jti: string): Promise<boolean>;
  /** Sign-in at upstream identity providers and the provider tokens kept for upstreams. */
  readonly federation: Federation | undefined;
  /** Stops background work (the periodic purge). Does not close the store. */
  close(): Promise<void>;
}

/**
 * Builds the authorization server for a loaded config whose authorization_server block is
 * enabled. Makes sure a signing key exists (first start) before it resolves.
 */
export async function createAuthorizationServer(
  loaded: LoadedConfig,
  deps: AuthorizationServerDeps,
): Promise<AuthorizationServer> {
  const settings = settingsFrom(loaded);
  const now = deps.now ?? Date.now;
  const { store } = deps;
  const fetch =
    deps.fetch ??
    createGuardedFetch({
      allowLoopback: settings.allowLoopbackUrls,
      timeoutMs: 5000,
      maxBytes: METADATA_DOCUMENT_MAX_BYTES,
    });
  const documents = settings.clientIdMetadataDocuments
    ? new MetadataDocumentResolver({
        fetch,
        now,
        allowLoopback: settings.allowLoopbackUrls,
        allowedScopes: settings.allowedScopes,
        jwtBearerClients: new Set(
          loaded.config.authorization_server.trusted_identity_providers.flatMap(
            (provider) => provider.allowed_clients,
          ),
        ),
        confinedCookiePath: cookiePathConfinedFor(settings.issuer),
        logger: deps.logger,
      })
    : undefined;
  await ensureSigningKey(store, settings.signingAlgorithm, now());
  const federation =
    loaded.config.authorization_server.identity_providers.length === 0
      ? undefined
      : new Federation(loaded, {
          // Discovery, keys and token endpoints: every URL through the SSRF guard, no redirects.
          fetch:
            deps.fetch ??
            createGuardedFetch({ allowLoopback: settings.allowLoopbackUrls, timeoutMs: 10_000 }),
          now,
          issuer: settings.issuer,
        });
  await federation?.ready();
  const services: Services = {
    settings,
    store,
    logger: deps.logger,
    audit: deps.audit,
    now,
    keys: new KeyRing(store, { now, alg: settings.signingAlgorithm }),
    clients: new ClientRegistry(loaded, store, documents),
    initialAccessToken: loaded.secrets.initialAccessToken,
    dpop: dpopFor(loaded, deps.dpopProofs),
    assertions: assertionsFor(loaded, settings, store, deps, now),
    federation,
  };
  const routes = routesFor(settings, { federation: federation !== undefined });
  const adminRoutes = adminRoutesFor();
  // The admin listener is plain HTTP: its cookies cannot be Secure (nor so `__Host-`), and
  // carry other names than the public listener's, so the two never mix.
  const adminServices: Services = { ...services, settings: { ...settings, secureCookies: false } };

  const purge = setInterval(() => {
    store.purgeExpired(now()).catch((error: unknown) => {
      deps.logger?.warn({ err: error }, 'store purge failed');
    });
  }, LIMITS.purgeIntervalMs);
  purge.unref();

  return {
    issuer: settings.issuer,
    handle: (request, context = {}) => answer(routes, services, request, context),
    handleAdmin: (request, context = {}) =>
      answer(adminRoutes, adminServices, request, { ...context, listener: 'admin' }),
    federation,
    publicKeySet: () => services.keys.publicKeySet(),
    reloadKeys: () => services.keys.invalidate(),
    isAccessTokenRevoked: (jti) => store.isAccessTokenRevoked(jti),
    async close() {
      clearInterval(purge);
    },
  };

  /** Runs one request through a route table, and writes its access-log line. */
  async function answer(
    table: typeof routes,
    using: Services,
    request: Request,
    context: RequestContext,
  ): Promise<Response | undefined> {
    const started = performance.now();
    const url = new URL(request.url);
    const noted: { clientId?: string } = {};
    const response = await dispatch(table, {
      request,
      url,
      context,
      services: using,
      responseHeaders: new Headers(),
      noted,
    });
    if (response !== undefined && deps.logger !== undefined) {
      logAccess(deps.logger, {
        server: 'authorization-server',
        method: request.method,
        route: url.pathname.length > 256 ? `${url.pathname.slice(0, 256)}…` : url.pathname,
        status: response.status,
        durationMs: performance.now() - started,
        clientId: noted.clientId,
        requestId: context.requestId,
      });
    }
    return response;
  }
}
