import { randomBytes } from 'node:crypto';
import type { DpopSession } from '@modelcontextprotocol/client';
import type {
  AddClientAuthentication,
  OAuthClientProvider,
  OAuthDiscoveryState,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { createPrivateKeyJwtAuth } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { ClientError } from '../errors/index.ts';
import { type CallbackServer, startCallbackServer } from './callback-server.ts';
import { type AuthorizationServerMetadata, type Discovery, issuerMatches } from './discovery.ts';
import { type DpopMode, dpopAlgorithmFor } from './dpop.ts';
import type { AuthorizationOpener } from './opener.ts';
import { canonicalResource, isLoopbackUrl, parseServerUrl, sameResource } from './resource.ts';
import { OAuthSession } from './session.ts';
import { type PrivateKeyOption, signingAlgorithm } from './token-requests.ts';
import type { ServerRecord, TokenStore } from './token-store.ts';
import type { ClientNotice, GuardedFetch, StoredClient, StoredTokens } from './types.ts';
import { checkAuthorizationEndpoint, checkOpenableUrl, type UrlPolicy } from './url-safety.ts';

export interface PortcullisProviderOptions {
  readonly serverUrl: string | URL;
  readonly store: TokenStore;
  readonly opener: AuthorizationOpener;
  /**
   * Fetch for proactive refreshes (the SDK refreshes only after a 401). Give the SSRF guard.
   * The SDK's own discovery uses the fetch given to its transport, not this one.
   */
  readonly fetch: GuardedFetch;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly clientMetadataUrl?: string;
  readonly privateKey?: PrivateKeyOption;
  readonly callbackPort?: number;
  readonly clientName?: string;
  readonly allowLoopbackHttp?: boolean;
  readonly notice?: ClientNotice;
  readonly callbackTimeoutMs?: number;
  /**
   * DPoP-bound tokens (RFC 9449) through the SDK's `dpop()` hook (@modelcontextprotocol/client
   * v2): `auto` (the default) when the authorization server advertises
   * `dpop_signing_alg_values_supported`, `required` to refuse one that does not, `off` for
   * bearer tokens. The key is one per (server, issuer), kept encrypted with the tokens.
   */
  readonly dpop?: DpopMode;
}

/**
 * An `OAuthClientProvider` for the MCP TypeScript SDK (`StreamableHTTPClientTransport`'s
 * `authProvider`), backed by Portcullis's encrypted token store and loopback callback. It keeps
 * what the SDK's `auth()` does right and corrects, through the provider's hooks, where it departs
 * from MCP 2025-11-25:
 * - the authorization server metadata must name the issuer it was discovered for (RFC 8414
 *   §3.3) and advertise PKCE S256, else the flow stops before registration (`saveDiscoveryState`);
 * - the authorization endpoint and URL are checked (http(s) only, no metacharacters) and opened
 *   without a shell;
 * - `resource` is checked against the server URL and always sent, also without protected
 *   resource metadata (`validateResourceURL`);
 * - `state` and RFC 9207 `iss` are verified at the callback (`waitForAuthorizationCode`);
 * - tokens are refreshed before they expire, single-flight across processes (`tokens`).
 * - with @modelcontextprotocol/client v2, tokens are DPoP-bound when the authorization server
 *   offers it (`dpop()`; RFC 9449), the key kept in the token store like the CLI's.
 * What hooks cannot change: the SDK replaces the scope on step-up instead of taking the union,
 * and runs its discovery through the transport's fetch. `createAuthenticatedFetch` has neither
 * limitation; prefer it when you control the transport.
 *
 * Usage: `const provider = await PortcullisOAuthProvider.create(options)`; on `UnauthorizedError`
 * from `client.connect`, `await transport.finishAuth(await provider.waitForAuthorizationCode())`
 * and connect again with a new transport. With @modelcontextprotocol/client v2, give it the issuer
 * the callback was checked against (RFC 9207):
 * `transport.finishAuth(code, provider.discoveryState()?.authorizationServerMetadata?.issuer)`.
 */
export class PortcullisOAuthProvider implements OAuthClientProvider {
  readonly #options: PortcullisProviderOptions;
  readonly #serverUrl: URL;
  readonly #policy: UrlPolicy;
  readonly #session: OAuthSession;
  #callback: CallbackServer;
  #discovery: OAuthDiscoveryState | undefined;
  #state: string | undefined;
  #codeVerifier: string | undefined;
  #pending: Promise<string> | undefined;
  readonly addClientAuthentication?: AddClientAuthentication;

  private constructor(options: PortcullisProviderOptions, callback: CallbackServer) {
    this.#options = options;
    this.#serverUrl = parseServerUrl(String(options.serverUrl));
    this.#policy = {
      allowLoopbackHttp: options.allowLoopbackHttp ?? isLoopbackUrl(this.#serverUrl),
    };
    this.#callback = callback;
    this.#session = new OAuthSession({
      serverUrl: this.#serverUrl,
      fetch: options.fetch,
      store: options.store,
      opener: options.opener,
      interactive: false,
      ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
      ...(options.clientSecret === undefined ? {} : { clientSecret: options.clientSecret }),
      ...(options.clientMetadataUrl === undefined
        ? {}
        : { clientMetadataUrl: options.clientMetadataUrl }),
      ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
      dpop: options.dpop ?? 'auto',
    });
    if (options.privateKey && options.clientId) {
      const key = options.privateKey;
      const clientId = options.clientId;
      this.addClientAuthentication = async (headers, params, url, metadata) => {
        const alg = signingAlgorithm(key, (metadata ?? {}) as AuthorizationServerMetadata);
        const sign = createPrivateKeyJwtAuth({
          issuer: clientId,
          subject: clientId,
          privateKey: key.pem,
          alg,
          lifetimeSeconds: 60,
        });
        await sign(headers, params, url, metadata);
      };
    }
  }

  /** Binds the loopback callback first, so `redirectUrl` carries the real port. */
  static async create(options: PortcullisProviderOptions): Promise<PortcullisOAuthProvider> {
    const callback = await startCallbackServer(
      options.callbackPort === undefined ? {} : { port: options.callbackPort },
    );
    return new PortcullisOAuthProvider(options, callback);
  }

  get redirectUrl(): string {
    return this.#callback.redirectUri;
  }

  get clientMetadataUrl(): string | undefined {
    return this.#options.clientMetadataUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    // No `scope`: the SDK would otherwise request it when neither the challenge nor the
    // metadata names one, where MCP says to omit the parameter.
    const metadata: OAuthClientMetadata & { application_type: string } = {
      client_name: this.#options.clientName ?? 'Portcullis',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
    return metadata;
  }

  state(): string {
    this.#state = randomBytes(32).toString('base64url');
    return this.#state;
  }

  async clientInformation(): Promise<OAuthClientInformationMixed | undefined> {
    if (this.#options.clientId !== undefined) {
      return {
        client_id: this.#options.clientId,
        ...(this.#options.clientSecret === undefined
          ? {}
          : { client_secret: this.#options.clientSecret }),
      };
    }
    const issuer = this.#issuer();
    if (issuer === undefined) return undefined;
    const stored = await this.#options.store.readClient(issuer);
    if (stored === undefined || stored.source === 'metadata-document')
      return stored && { client_id: stored.client_id, issuer };
    if (!(stored.redirect_uris ?? []).includes(this.redirectUrl)) return undefined;
    return {
      client_id: stored.client_id,
      ...(stored.client_secret === undefined ? {} : { client_secret: stored.client_secret }),
      ...(stored.token_endpoint_auth_method === undefined
        ? {}
        : { token_endpoint_auth_method: stored.token_endpoint_auth_method }),
      redirect_uris: [...(stored.redirect_uris ?? [])],
      issuer,
    };
  }

  async saveClientInformation(info: OAuthClientInformationMixed): Promise<void> {
    const issuer = this.#issuer() ?? info.issuer;
    if (issuer === undefined || this.#options.clientId !== undefined) return;
    const full = info as OAuthClientInformationMixed & {
      redirect_uris?: string[];
      token_endpoint_auth_method?: string;
    };
    const client: StoredClient = {
      issuer,
      client_id: info.client_id,
      ...(info.client_secret === undefined ? {} : { client_secret: info.client_secret }),
      ...(full.token_endpoint_auth_method === undefined
        ? {}
        : { token_endpoint_auth_method: full.token_endpoint_auth_method }),
      redirect_uris: full.redirect_uris ?? [this.redirectUrl],
      source: info.client_id === this.#options.clientMetadataUrl ? 'metadata-document' : 'dynamic',
    };
    await this.#options.store.writeClient(client);
  }

  /** The stored tokens, refreshed first when they are about to expire (the SDK never does). */
  async tokens(): Promise<OAuthTokens | undefined> {
    const access = await this.#session.accessToken().catch(() => undefined);
    const tokens = await this.#session.currentTokens();
    if (access === undefined || tokens === undefined) return undefined;
    const record = await this.#options.store.readServer(this.#serverUrl.href);
    return toSdkTokens(tokens, record?.issuer);
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    const issuer = tokens.issuer ?? this.#issuer();
    if (issuer === undefined) throw new Error('saveTokens before discovery');
    const previous = await this.#session.currentTokens();
    const stored: StoredTokens = {
      access_token: tokens.access_token,
      token_type: await this.#tokenType(tokens.token_type, issuer),
      ...(tokens.refresh_token === undefined ? {} : { refresh_token: tokens.refresh_token }),
      ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
      requested_scope: previous?.requested_scope ?? tokens.scope ?? '',
      ...(tokens.expires_in === undefined
        ? {}
        : { expires_at: Date.now() + tokens.expires_in * 1000 }),
    };
    const discovery = this.#snapshot(issuer);
    await this.#options.store.updateServer(
      this.#serverUrl.href,
      (record): ServerRecord => ({
        ...(record ?? { serverUrl: this.#serverUrl.href }),
        issuer,
        ...(discovery ? { discovery } : {}),
        tokens: { ...(record?.tokens ?? {}), [issuer]: stored },
      }),
    );
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    checkOpenableUrl(authorizationUrl, this.#policy);
    const state = authorizationUrl.searchParams.get('state');
    if (state === null || state !== this.#state) {
      throw new ClientError(
        'ClientStateMismatch',
        'the authorization URL carries no state of ours',
      );
    }
    const metadata = this.#discovery?.authorizationServerMetadata as
      | AuthorizationServerMetadata
      | undefined;
    // RFC 9207 §2.4: record the issuer before redirecting.
    this.#pending = this.#callback.waitForCode({
      state,
      issuer: metadata?.issuer ?? this.#issuer() ?? '',
      issRequired: metadata?.authorization_response_iss_parameter_supported === true,
      ...(this.#options.callbackTimeoutMs ? { timeoutMs: this.#options.callbackTimeoutMs } : {}),
    });
    this.#pending.catch(() => undefined);
    await this.#options.opener(authorizationUrl, {
      redirectUri: this.redirectUrl,
      policy: this.#policy,
    });
  }

  /**
   * The authorization code, once a response with our `state` (and, when advertised, the right
   * `iss`) reached the callback. Then pass it to `transport.finishAuth`.
   */
  async waitForAuthorizationCode(): Promise<string> {
    if (this.#pending === undefined) {
      throw new ClientError('ClientAuthorizationFailed', 'no authorization is in progress');
    }
    const code = await this.#pending;
    this.#pending = undefined;
    // Single use: that listener is closed. Bind the same port again for a later step-up.
    const port = this.#callback.port;
    this.#callback = await startCallbackServer({ port }).catch(() => startCallbackServer());
    return code;
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#codeVerifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.#codeVerifier === undefined) throw new Error('no PKCE verifier saved');
    return this.#codeVerifier;
  }

  /**
   * RFC 8707 / RFC 9728 §3.3: the metadata's resource must be this server (or, from the root
   * document, its origin); without metadata, the server URL itself is the resource, sent anyway.
   */
  async validateResourceURL(serverUrl: string | URL, resource?: string): Promise<URL | undefined> {
    const server = new URL(String(serverUrl));
    server.hash = '';
    if (resource === undefined) return new URL(canonicalResource(server.href));
    if (!sameResource(resource, server.href) && !sameResource(resource, server.origin)) {
      throw new ClientError(
        'ClientResourceMismatch',
        `protected resource metadata is for ${JSON.stringify(resource)}, not for ${server.href}; refusing to authorize`,
      );
    }
    return new URL(canonicalResource(resource));
  }

  /** Checks the discovered authorization server before the SDK registers or redirects. */
  async saveDiscoveryState(state: OAuthDiscoveryState): Promise<void> {
    const metadata = state.authorizationServerMetadata as AuthorizationServerMetadata | undefined;
    if (metadata === undefined) {
      if (state.resourceMetadata !== undefined) {
        throw new ClientError(
          'ClientDiscoveryFailed',
          `the authorization server ${state.authorizationServerUrl} publishes no metadata`,
        );
      }
    } else {
      const legacy = state.resourceMetadata === undefined;
      const issuerOk = legacy
        ? URL.canParse(metadata.issuer) &&
          new URL(metadata.issuer).origin === this.#serverUrl.origin
        : issuerMatches(state.authorizationServerUrl, metadata.issuer);
      if (!issuerOk) {
        throw new ClientError(
          'ClientIssuerMismatch',
          `authorization server metadata names issuer ${JSON.stringify(metadata.issuer)}, expected ${JSON.stringify(state.authorizationServerUrl)}`,
        );
      }
      if (!(metadata.code_challenge_methods_supported ?? []).includes('S256')) {
        throw new ClientError(
          'ClientPkceUnsupported',
          `${metadata.issuer} does not advertise PKCE S256; refusing to proceed`,
        );
      }
      checkAuthorizationEndpoint(metadata.authorization_endpoint, this.#policy);
    }
    // `required`: stop before registration when the server cannot bind tokens (RFC 9449 §5.1).
    if (this.#options.dpop === 'required') {
      if (metadata === undefined) {
        throw new ClientError(
          'ClientTokenRequestFailed',
          `${state.authorizationServerUrl} publishes no metadata, so it advertises no DPoP (dpop_signing_alg_values_supported)`,
          { fix: "use dpop: 'auto' to fall back to bearer tokens with this server" },
        );
      }
      dpopAlgorithmFor('required', metadata);
    }
    this.#discovery = state;
  }

  /**
   * The SDK's DPoP hook (@modelcontextprotocol/client v2): the session whose key token requests
   * sign proofs with and DPoP-bound tokens are presented with (RFC 9449 §5, §7.1); undefined for
   * bearer tokens. Before discovery in this process, the key stored with DPoP-bound tokens.
   * The same session is returned on every call, so nonces learnt on one request serve the next.
   */
  async dpop(): Promise<DpopSession | undefined> {
    const issuer = this.#issuer();
    const discovery = issuer === undefined ? undefined : this.#snapshot(issuer);
    const chosen = discovery === undefined ? undefined : await this.#session.dpopSession(discovery);
    return chosen ?? this.#session.presentation();
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.#discovery;
  }

  async invalidateCredentials(
    scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery',
  ): Promise<void> {
    if (scope === 'verifier') this.#codeVerifier = undefined;
    if (scope === 'discovery') this.#discovery = undefined;
    const issuer = this.#issuer();
    if (
      (scope === 'all' || scope === 'client') &&
      issuer !== undefined &&
      this.#options.clientId === undefined
    ) {
      await this.#options.store.deleteClient(issuer);
    }
    if (scope === 'all' || scope === 'tokens') {
      await this.#options.store.updateServer(this.#serverUrl.href, (record) =>
        record ? { ...record, tokens: {} } : record,
      );
    }
  }

  /** Closes the loopback listener. */
  close(): Promise<void> {
    return this.#callback.close();
  }

  #issuer(): string | undefined {
    return this.#discovery?.authorizationServerUrl;
  }

  /**
   * The stored spelling of an issued token's type. A DPoP token is usable only with the key that
   * asked for it (RFC 9449 §5), and `required` takes nothing else: an SDK without DPoP (v1) never
   * sends a proof, so its bearer tokens are refused here rather than used.
   */
  async #tokenType(issued: string, issuer: string): Promise<'Bearer' | 'DPoP'> {
    const type = issued.toLowerCase();
    const keyed =
      (await this.#options.store.readServer(this.#serverUrl.href))?.dpopKeys?.[issuer] !==
      undefined;
    if (type === 'dpop' && keyed) return 'DPoP';
    if (type === 'bearer' && this.#options.dpop !== 'required') return 'Bearer';
    throw new ClientError(
      'ClientTokenRequestFailed',
      type === 'bearer'
        ? `${issuer} issued a Bearer token where DPoP is required (is the SDK one that calls the provider's dpop(), @modelcontextprotocol/client v2?)`
        : `the token endpoint issued a ${issued} token; only Bearer${keyed ? ' and DPoP' : ''} tokens are usable here`,
      type === 'bearer'
        ? { fix: "use @modelcontextprotocol/client v2, or dpop: 'auto'" }
        : undefined,
    );
  }

  /** Our discovery record, built from the SDK's, so refreshes and logout work without it. */
  #snapshot(issuer: string): Discovery | undefined {
    const state = this.#discovery;
    if (state === undefined) return undefined;
    const metadata =
      (state.authorizationServerMetadata as AuthorizationServerMetadata | undefined) ??
      ({
        issuer,
        authorization_endpoint: new URL('/authorize', issuer).href,
        token_endpoint: new URL('/token', issuer).href,
        response_types_supported: ['code'],
      } satisfies AuthorizationServerMetadata);
    const resource = state.resourceMetadata?.resource ?? this.#serverUrl.href;
    return {
      resource: canonicalResource(resource),
      ...(state.resourceMetadata
        ? { resourceMetadata: state.resourceMetadata as unknown as Discovery['resourceMetadata'] }
        : {}),
      ...(state.resourceMetadataUrl ? { resourceMetadataUrl: state.resourceMetadataUrl } : {}),
      issuer,
      metadata,
      defaultEndpoints: state.authorizationServerMetadata === undefined,
      legacy: state.resourceMetadata === undefined,
    };
  }
}

function toSdkTokens(tokens: StoredTokens, issuer: string | undefined): OAuthTokens {
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    ...(tokens.refresh_token === undefined ? {} : { refresh_token: tokens.refresh_token }),
    ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
    ...(tokens.expires_at === undefined
      ? {}
      : { expires_in: Math.max(0, Math.floor((tokens.expires_at - Date.now()) / 1000)) }),
    ...(issuer === undefined ? {} : { issuer }),
  };
}
