import type { JSONWebKeySet } from 'jose';
import type { LoadedConfig } from '../config/index.ts';
import type { Logger } from '../lib/log.ts';
import { createGuardedFetch, type GuardedFetch } from '../net/index.ts';
import type { Store } from '../store/index.ts';
import {
  METADATA_DOCUMENT_MAX_BYTES,
  MetadataDocumentResolver,
} from './clients/metadata-documents.ts';
import { ClientRegistry } from './clients/registry.ts';
import { ensureSigningKey, KeyRing } from './keys.ts';
import { dispatch, routesFor } from './router.ts';
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
  /** The public signing keys (the JWKS); the gateway verifies local tokens with these directly. */
  publicKeySet(): Promise<JSONWebKeySet>;
  /** True when the access token with this `jti` was revoked (itself or its grant). */
  isAccessTokenRevoked(jti: string): Promise<boolean>;
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
  const services: Services = {
    settings,
    store,
    logger: deps.logger,
    audit: deps.audit,
    now,
    keys: new KeyRing(store, { now, alg: settings.signingAlgorithm }),
    clients: new ClientRegistry(loaded, store, documents),
    initialAccessToken: loaded.secrets.initialAccessToken,
  };
  const routes = routesFor(settings);

  const purge = setInterval(() => {
    store.purgeExpired(now()).catch((error: unknown) => {
      deps.logger?.warn({ err: error }, 'store purge failed');
    });
  }, LIMITS.purgeIntervalMs);
  purge.unref();

  return {
    issuer: settings.issuer,
    async handle(request, context = {}) {
      const url = new URL(request.url);
      return dispatch(routes, { request, url, context, services, responseHeaders: new Headers() });
    },
    publicKeySet: () => services.keys.publicKeySet(),
    isAccessTokenRevoked: (jti) => store.isAccessTokenRevoked(jti),
    async close() {
      clearInterval(purge);
    },
  };
}
