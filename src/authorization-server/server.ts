import { performance } from 'node:perf_hooks';
import type { JSONWebKeySet } from 'jose';
import type { LoadedConfig } from '../config/index.ts';
import { type Logger, logAccess } from '../lib/log.ts';
import { createGuardedFetch, type GuardedFetch } from '../net/index.ts';
import type { Store } from '../store/index.ts';
import {
  METADATA_DOCUMENT_MAX_BYTES,
  MetadataDocumentResolver,
} from './clients/metadata-documents.ts';
import { ClientRegistry } from './clients/registry.ts';
import { Federation } from './federation/federation.ts';
import { ensureSigningKey, KeyRing } from './keys.ts';
import { adminRoutesFor, dispatch, routesFor } from './router.ts';
import type { AuditRecorder, RequestContext, Services } from './services.ts';
import { LIMITS, settingsFrom } from './settings.ts';

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
