import { randomBytes } from 'node:crypto';
import type { DpopSession } from '@modelcontextprotocol/client';
import { startAuthorization } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { ClientError } from '../errors/index.ts';
import { obtainIdJag, readAssertionFile, redeemAssertion } from './assertion-grant.ts';
import type { FetchLike } from './auth-fetch.ts';
import { type CallbackServer, startCallbackServer } from './callback-server.ts';
import { type DeviceFlowOptions, runDeviceFlow } from './device-flow.ts';
import { type Discovery, discover } from './discovery.ts';
import {
  type DpopMode,
  dpopAlgorithmFor,
  dpopSessionFor,
  dpopTokenFetch,
  newDpopKey,
} from './dpop.ts';
import type { AuthorizationOpener } from './opener.ts';
import { obtainClient, registeredCallbackPort } from './registration.ts';
import { isLoopbackUrl } from './resource.ts';
import { selectScope, unionScopes } from './scope.ts';
import {
  clientCredentialsToken,
  exchangeCode,
  oauthErrorCode,
  type PrivateKeyOption,
  refreshTokens,
  revokeToken,
  type TokenContext,
} from './token-requests.ts';
import type { ServerRecord, TokenStore } from './token-store.ts';
import type { ClientNotice, GuardedFetch, StoredClient, StoredTokens } from './types.ts';
import { checkAuthorizationEndpoint, checkOpenableUrl, type UrlPolicy } from './url-safety.ts';
import type { BearerChallenge } from './www-authenticate.ts';

export const DEFAULT_REFRESH_MARGIN_MS = 60_000;

export interface OAuthSessionOptions {
  /** The MCP server URL (checked with parseServerUrl). */
  readonly serverUrl: URL;
  /** Fetch for every discovered URL: metadata, registration, token, revocation. The SSRF guard. */
  readonly fetch: GuardedFetch;
  readonly store: TokenStore;
  readonly grant?: 'authorization_code' | 'client_credentials' | 'device_code';
  /** Device grant: how the wait is paced and the code shown (tests inject these). */
  readonly device?: Pick<DeviceFlowOptions, 'sleep' | 'now' | 'show'>;
  /** Scopes to request, overriding the selection strategy (`--scope`). */
  readonly scope?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly clientMetadataUrl?: string;
  readonly privateKey?: PrivateKeyOption;
  readonly callbackPort?: number;
  /** How the authorization URL reaches the user (browser, print, fetch). */
  readonly opener: AuthorizationOpener;
  /** May an authorization (browser step) be started? False: fail when no token can be refreshed. */
  readonly interactive?: boolean;
  /**
   * Plain-http loopback authorization endpoints are acceptable: true when the MCP server URL is
   * itself loopback (the caller also built `fetch` with loopback allowed), or when asked for.
   */
  readonly allowLoopbackHttp?: boolean;
  readonly notice?: ClientNotice;
  readonly clientName?: string;
  readonly softwareVersion?: string;
  readonly refreshMarginMs?: number;
  readonly callbackTimeoutMs?: number;
  /** `false`: never send RFC 8707 `resource` (`--no-resource-parameter`). Default true. */
  readonly resourceParameter?: boolean;
  /** `--dpop`: DPoP-bound tokens when the authorization server offers them (auto), always, never. */
  readonly dpop?: DpopMode;
  /** Log in with an assertion (RFC 7523 JWT bearer grant) instead of a browser. */
  readonly assertion?: AssertionSource;
}

/** Where the assertion of a JWT bearer login comes from. */
export type AssertionSource =
  /** A workload token file (`--assertion-file`), read at each login. */
  | { readonly kind: 'file'; readonly path: string }
  /** An ID token at the enterprise IdP, exchanged there for an ID-JAG (RFC 8693). */
  | {
      readonly kind: 'id-jag';
      readonly idToken: string;
      readonly idpClientId: string;
      readonly idpClientSecret?: string;
      readonly idpTokenEndpoint?: string;
      readonly idpIssuer?: string;
    };

/** Why an authorization is being run; decides the scope to ask for. */
export interface AuthorizationReason {
  /** The challenge of the 401 or 403 that asked for it. */
  readonly challenge?: BearerChallenge;
  /** 403 `insufficient_scope`: ask for the union of what was requested and what is challenged. */
  readonly stepUp?: boolean;
}

/**
 * The client side of MCP authorization for one server: it finds, refreshes and obtains access
 * tokens. Tokens live in the encrypted store, keyed by server and issuer; refreshes are
 * single-flight within the process and, through the store's lock, across processes.
 */
export class OAuthSession {
  readonly serverUrl: URL;
  readonly #options: OAuthSessionOptions;
  readonly #notice: ClientNotice;
  readonly #policy: UrlPolicy;
  #refreshing: Promise<string | undefined> | undefined;
  #authorizing: Promise<string> | undefined;
  #callback: CallbackServer | undefined;
  #deviceAbort: AbortController | undefined;
  #aborted = false;
  /** DPoP sessions by issuer, so nonces learnt on one request serve the next (RFC 9449 §8). */
  readonly #dpopSessions = new Map<string, DpopSession>();

  constructor(options: OAuthSessionOptions) {
    this.serverUrl = options.serverUrl;
    this.#options = options;
    this.#notice = options.notice ?? (() => undefined);
    this.#policy = {
      allowLoopbackHttp: options.allowLoopbackHttp ?? isLoopbackUrl(options.serverUrl),
    };
  }

  get #key(): string {
    return this.serverUrl.href;
  }

  /** The stored tokens currently in use for this server, if any. */
  async currentTokens(): Promise<StoredTokens | undefined> {
    return currentTokens(await this.#options.store.readServer(this.#key));
  }

  /**
   * A usable access token, refreshed first when it expires within the margin; undefined when
   * none is stored or it cannot be refreshed (the caller then authorizes, or gives up).
   */
  async accessToken(): Promise<string | undefined> {
    const tokens = await this.currentTokens();
    if (tokens === undefined) return undefined;
    if (!this.#needsRefresh(tokens)) return tokens.access_token;
    return this.refresh();
  }

  /**
   * Refreshes now (single-flight). Another process may have refreshed first: under the store's
   * lock the record is read again, and a token that is no longer due is used as it is.
   * `rejected` is a token the server just refused: it is replaced even if not yet due.
   */
  refresh(rejected?: string): Promise<string | undefined> {
    this.#refreshing ??= this.#refreshUnderLock(rejected).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshUnderLock(rejected: string | undefined): Promise<string | undefined> {
    return this.#options.store.withServer(this.#key, async (tx) => {
      const record = await tx.read();
      const tokens = currentTokens(record);
      if (tokens === undefined || record?.issuer === undefined || record.discovery === undefined) {
        return undefined;
      }
      if (!this.#needsRefresh(tokens) && tokens.access_token !== rejected)
        return tokens.access_token;
      if (tokens.refresh_token === undefined) {
        return tokens.access_token !== rejected && !this.#expired(tokens)
          ? tokens.access_token
          : undefined;
      }
      const client = await this.#clientFor(record.discovery);
      if (client === undefined) return undefined;
      // A DPoP-bound refresh (RFC 9449 §5) needs the key the tokens were bound to.
      const dpop = await this.#storedDpop(record, record.issuer);
      let fresh: OAuthTokens;
      try {
        fresh = await refreshTokens(
          this.#tokenContext(record.discovery, client, dpop),
          tokens.refresh_token,
        );
      } catch (error) {
        if (oauthErrorCode(error) === 'invalid_grant') {
          // The refresh token is dead (expired, revoked, or rotated by someone else): drop it.
          this.#notice('The stored refresh token was refused; a new authorization is needed.');
          await tx.write(withTokens(record, record.issuer, undefined));
          return undefined;
        }
        if (!this.#expired(tokens) && tokens.access_token !== rejected) return tokens.access_token;
        throw error;
      }
      const stored = toStored(
        { ...fresh, scope: fresh.scope ?? tokens.scope },
        tokens.requested_scope ?? '',
        tokens.refresh_token,
        dpop !== undefined,
      );
      await tx.write(withTokens(record, record.issuer, stored));
      return stored.access_token;
    });
  }

  /**
   * Runs the authorization dance and returns the new access token. Concurrent callers share one
   * run. Refused with ClientInteractionRequired when interaction is not allowed.
   */
  authorize(reason: AuthorizationReason = {}): Promise<string> {
    this.#authorizing ??= this.#authorize(reason).finally(() => {
      this.#authorizing = undefined;
    });
    return this.#authorizing;
  }

  async #authorize(reason: AuthorizationReason): Promise<string> {
    const grant = this.#options.grant ?? 'authorization_code';
    if (this.#aborted) {
      throw new ClientError('ClientAuthorizationFailed', 'the client is shutting down');
    }
    const unattended = grant === 'client_credentials' || this.#options.assertion !== undefined;
    if (!unattended && this.#options.interactive === false) {
      throw new ClientError(
        'ClientInteractionRequired',
        `no usable token is stored for ${this.serverUrl.href} and interaction is not allowed`,
        { fix: `run: portcullis login ${this.serverUrl.href}` },
      );
    }
    const discovery = await discover({
      serverUrl: this.serverUrl,
      fetch: this.#options.fetch,
      ...(reason.challenge ? { challenge: reason.challenge } : {}),
      policy: this.#policy,
    });
    await this.#checkPreRegisteredBinding(discovery);
    const previous = await this.currentTokens();
    const scope = selectScope({
      explicit: this.#options.scope,
      challenge: reason.challenge?.scope,
      resourceScopes: discovery.resourceMetadata?.scopes_supported,
      serverScopes: discovery.metadata.scopes_supported,
      previous: reason.stepUp ? unionScopes(previous?.requested_scope, previous?.scope) : undefined,
      grant,
    });
    const tokens =
      this.#options.assertion !== undefined
        ? await this.#assertionGrant(discovery, this.#options.assertion, scope)
        : grant === 'client_credentials'
          ? await this.#clientCredentials(discovery, scope)
          : grant === 'device_code'
            ? await this.#deviceCode(discovery, scope)
            : await this.#authorizationCode(discovery, scope);
    const clientId = this.#options.clientId;
    await this.#options.store.updateServer(this.#key, (record) =>
      withTokens(
        {
          ...(record ?? { serverUrl: this.#key }),
          discovery,
          issuer: discovery.issuer,
          ...(clientId === undefined
            ? {}
            : { preRegisteredBinding: { clientId, issuer: discovery.issuer } }),
        },
        discovery.issuer,
        tokens,
      ),
    );
    return tokens.access_token;
  }

  /**
   * A pre-registered client's secret or key is only ever shown to the issuer it was first used
   * with for this server; a server that now names another one gets an error, not the secret.
   */
  async #checkPreRegisteredBinding(discovery: Discovery): Promise<void> {
    const clientId = this.#options.clientId;
    if (clientId === undefined) return;
    const binding = (await this.#options.store.readServer(this.#key))?.preRegisteredBinding;
    if (binding && binding.clientId === clientId && binding.issuer !== discovery.issuer) {
      throw new ClientError(
        'ClientIssuerMismatch',
        `client ${clientId} was used with authorization server ${binding.issuer} for this server, which now names ${discovery.issuer}; its credentials are not sent there`,
        {
          fix: `if the move is expected, run: portcullis logout ${this.#key}, then sign in again`,
        },
      );
    }
  }

  async #clientCredentials(discovery: Discovery, scope: string | undefined): Promise<StoredTokens> {
    const client = await obtainClient(this.#registrationOptions(discovery, undefined));
    const dpop = await this.#dpopFor(discovery);
    const response = await clientCredentialsToken(
      this.#tokenContext(discovery, client, dpop),
      scope,
    );
    return toStored(response, scope ?? '', undefined, dpop !== undefined);
  }

  /**
   * RFC 7523 §2.1: an ID-JAG (obtained now from the enterprise IdP, RFC 8693) or a workload JWT
   * (read from its file) redeemed for a token, with the pre-registered client. A refusal is
   * final: the authorization server has decided about this assertion.
   */
  async #assertionGrant(
    discovery: Discovery,
    source: AssertionSource,
    scope: string | undefined,
  ): Promise<StoredTokens> {
    const client = await this.#clientFor(discovery);
    if (client === undefined || client.source !== 'pre-registered') {
      throw new ClientError(
        'ClientRegistrationUnavailable',
        'an assertion login needs the client id the authorization server knows',
        { fix: 'give --client-id (and --client-secret-env for a confidential client)' },
      );
    }
    const assertion =
      source.kind === 'file'
        ? await readAssertionFile(source.path)
        : await obtainIdJag({
            idToken: source.idToken,
            idpClientId: source.idpClientId,
            ...(source.idpClientSecret === undefined
              ? {}
              : { idpClientSecret: source.idpClientSecret }),
            ...(source.idpTokenEndpoint === undefined
              ? {}
              : { idpTokenEndpoint: source.idpTokenEndpoint }),
            ...(source.idpIssuer === undefined ? {} : { idpIssuer: source.idpIssuer }),
            audience: discovery.issuer,
            resource: discovery.resource,
            ...(scope ? { scope } : {}),
            fetch: this.#options.fetch,
          });
    const dpop = await this.#dpopFor(discovery);
    const response = await redeemAssertion(
      { discovery, client, fetch: this.#options.fetch, dpop },
      assertion,
      scope,
    );
    this.#notice(`Authorized at ${discovery.issuer} with an assertion.`);
    return toStored(response, scope ?? '', undefined, dpop !== undefined);
  }

  /**
   * The DPoP session for tokens from this issuer, or undefined for bearer tokens: decided by
   * `--dpop` and what the authorization server advertises; its key made once per (server,
   * issuer) and kept in the token store.
   */
  async #dpopFor(discovery: Discovery): Promise<DpopSession | undefined> {
    const alg = dpopAlgorithmFor(this.#options.dpop ?? 'auto', discovery.metadata);
    if (alg === undefined) return undefined;
    const known = this.#dpopSessions.get(discovery.issuer);
    if (known !== undefined) return known;
    let key = (await this.#options.store.readServer(this.#key))?.dpopKeys?.[discovery.issuer];
    if (key === undefined) {
      const made = await newDpopKey(alg);
      const record = await this.#options.store.updateServer(this.#key, (current) => {
        const existing = current?.dpopKeys?.[discovery.issuer];
        return {
          ...(current ?? { serverUrl: this.#key }),
          dpopKeys: { ...(current?.dpopKeys ?? {}), [discovery.issuer]: existing ?? made },
        };
      });
      key = record?.dpopKeys?.[discovery.issuer] ?? made;
    }
    const session = await dpopSessionFor(key);
    this.#dpopSessions.set(discovery.issuer, session);
    return session;
  }

  /**
   * The DPoP session token requests to this issuer should sign proofs with, or undefined for
   * bearer tokens (same rule and key as the CLI's logins: `dpop` mode, the advertised
   * algorithms, one key per (server, issuer) kept in the token store).
   */
  dpopSession(discovery: Discovery): Promise<DpopSession | undefined> {
    return this.#dpopFor(discovery);
  }

  /** The session for a stored issuer's key, when its tokens are DPoP-bound. */
  async #storedDpop(
    record: ServerRecord | undefined,
    issuer: string,
  ): Promise<DpopSession | undefined> {
    const tokens = record?.tokens?.[issuer];
    const key = record?.dpopKeys?.[issuer];
    if (tokens?.token_type !== 'DPoP' || key === undefined) return undefined;
    const known = this.#dpopSessions.get(issuer);
    if (known !== undefined) return known;
    const session = await dpopSessionFor(key);
    this.#dpopSessions.set(issuer, session);
    return session;
  }

  /**
   * How the current token is presented: undefined for Bearer, else the DPoP session whose key
   * it is bound to (RFC 9449 §7.1).
   */
  async presentation(): Promise<DpopSession | undefined> {
    const record = await this.#options.store.readServer(this.#key);
    return record?.issuer === undefined ? undefined : this.#storedDpop(record, record.issuer);
  }

  /** RFC 8628: a person enters the user code elsewhere; no browser or callback here. */
  async #deviceCode(discovery: Discovery, scope: string | undefined): Promise<StoredTokens> {
    const client = await obtainClient({
      ...this.#registrationOptions(discovery, undefined),
      grant: 'device_code',
    });
    const abort = new AbortController();
    this.#deviceAbort = abort;
    try {
      const dpop = await this.#dpopFor(discovery);
      const tokens = await runDeviceFlow(this.#tokenContext(discovery, client, dpop), scope, {
        notice: this.#notice,
        signal: abort.signal,
        ...this.#options.device,
      });
      this.#notice(`Authorized at ${discovery.issuer}.`);
      return toStored(tokens, scope ?? '', undefined, dpop !== undefined);
    } finally {
      this.#deviceAbort = undefined;
    }
  }

  async #authorizationCode(discovery: Discovery, scope: string | undefined): Promise<StoredTokens> {
    const { metadata } = discovery;
    // MCP 2025-11-25: refuse without advertised S256. The 2025-03-26 default endpoints come with
    // no document to advertise anything; PKCE S256 is still used there.
    if (
      !discovery.defaultEndpoints &&
      !(metadata.code_challenge_methods_supported ?? []).includes('S256')
    ) {
      throw new ClientError(
        'ClientPkceUnsupported',
        `${discovery.issuer} does not advertise PKCE S256 (code_challenge_methods_supported: ${JSON.stringify(metadata.code_challenge_methods_supported ?? null)})`,
        { fix: 'the authorization server must support PKCE with S256; contact its operator' },
      );
    }
    if (!metadata.response_types_supported.includes('code')) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `${discovery.issuer} does not support response_type=code`,
      );
    }
    checkAuthorizationEndpoint(metadata.authorization_endpoint, this.#policy);

    // Bind the listener before registering, so the redirect URI carries the real port.
    const port =
      this.#options.callbackPort ??
      (this.#options.clientId === undefined
        ? await registeredCallbackPort(this.#options.store, discovery.issuer)
        : undefined);
    const callback = await bindCallback(port, this.#options.callbackPort !== undefined);
    this.#callback = callback;
    if (this.#aborted) await callback.close();
    try {
      const client = await obtainClient(this.#registrationOptions(discovery, callback.redirectUri));
      const state = randomBytes(32).toString('base64url');
      const { authorizationUrl, codeVerifier } = await startAuthorization(discovery.issuer, {
        metadata: discovery.metadata as unknown as Parameters<
          typeof startAuthorization
        >[1]['metadata'],
        clientInformation: { client_id: client.client_id },
        redirectUrl: callback.redirectUri,
        state,
        ...(this.#options.resourceParameter === false ? {} : { resource: discovery.resource }),
        ...(scope ? { scope } : {}),
      });
      checkOpenableUrl(authorizationUrl, this.#policy);
      // RFC 9207 §2.4: the issuer is recorded before redirecting, compared on return.
      const response = callback.waitForCode({
        state,
        issuer: metadata.issuer,
        issRequired: metadata.authorization_response_iss_parameter_supported === true,
        ...(this.#options.callbackTimeoutMs ? { timeoutMs: this.#options.callbackTimeoutMs } : {}),
      });
      response.catch(() => undefined);
      await this.#options.opener(authorizationUrl, {
        redirectUri: callback.redirectUri,
        policy: this.#policy,
      });
      const code = await response;
      const dpop = await this.#dpopFor(discovery);
      const tokens = await exchangeCode(this.#tokenContext(discovery, client, dpop), {
        code,
        codeVerifier,
        redirectUri: callback.redirectUri,
      });
      this.#notice(`Authorized at ${discovery.issuer}.`);
      return toStored(tokens, scope ?? '', undefined, dpop !== undefined);
    } finally {
      this.#callback = undefined;
      await callback.close();
    }
  }

  /**
   * Gives up any authorization in progress (its loopback listener closes, the wait rejects) and
   * refuses new ones. For shutting down while a browser step is still pending.
   */
  async abort(): Promise<void> {
    this.#aborted = true;
    this.#deviceAbort?.abort();
    await this.#callback?.close();
  }

  /**
   * Deletes this server's tokens, revoking them first where the server offers RFC 7009
   * revocation. Returns whether anything was revoked and whether anything was stored.
   */
  async logout(
    options: { forgetClient?: boolean } = {},
  ): Promise<{ revoked: boolean; removed: boolean }> {
    return this.#options.store.withServer(this.#key, async (tx) => {
      const record = await tx.read();
      if (record === undefined) return { revoked: false, removed: false };
      let revoked = false;
      const tokens = currentTokens(record);
      if (tokens && record.discovery) {
        const client = await this.#clientFor(record.discovery);
        if (client) {
          const context = this.#tokenContext(record.discovery, client);
          try {
            if (tokens.refresh_token)
              revoked = await revokeToken(context, tokens.refresh_token, 'refresh_token');
            revoked = (await revokeToken(context, tokens.access_token, 'access_token')) || revoked;
          } catch (error) {
            this.#notice(
              `Revocation failed (${(error as Error).message}); deleting the stored tokens anyway.`,
            );
          }
        }
      }
      await tx.write(undefined);
      if (options.forgetClient && record.issuer !== undefined) {
        await this.#options.store.deleteClient(record.issuer);
      }
      return { revoked, removed: true };
    });
  }

  #registrationOptions(discovery: Discovery, redirectUri: string | undefined) {
    const o = this.#options;
    return {
      discovery,
      store: o.store,
      fetch: o.fetch,
      redirectUri,
      ...(o.clientId === undefined ? {} : { clientId: o.clientId }),
      ...(o.clientSecret === undefined ? {} : { clientSecret: o.clientSecret }),
      ...(o.clientMetadataUrl === undefined ? {} : { clientMetadataUrl: o.clientMetadataUrl }),
      ...(o.clientName === undefined ? {} : { clientName: o.clientName }),
      ...(o.softwareVersion === undefined ? {} : { softwareVersion: o.softwareVersion }),
    };
  }

  async #clientFor(discovery: Discovery): Promise<StoredClient | undefined> {
    if (this.#options.clientId !== undefined) {
      return {
        issuer: discovery.issuer,
        client_id: this.#options.clientId,
        ...(this.#options.clientSecret === undefined
          ? {}
          : { client_secret: this.#options.clientSecret }),
        source: 'pre-registered',
      };
    }
    if (
      this.#options.clientMetadataUrl !== undefined &&
      discovery.metadata.client_id_metadata_document_supported
    ) {
      return {
        issuer: discovery.issuer,
        client_id: this.#options.clientMetadataUrl,
        source: 'metadata-document',
      };
    }
    const stored = await this.#options.store.readClient(discovery.issuer);
    return stored?.issuer === discovery.issuer ? stored : undefined;
  }

  #tokenContext(discovery: Discovery, client: StoredClient, dpop?: DpopSession): TokenContext {
    return {
      discovery,
      client,
      // With DPoP, token requests carry proofs (and answer nonce challenges) on the way out.
      fetch:
        dpop === undefined
          ? this.#options.fetch
          : (dpopTokenFetch(
              dpop,
              discovery.metadata.token_endpoint,
              this.#options.fetch as FetchLike,
            ) as GuardedFetch),
      ...(this.#options.privateKey ? { privateKey: this.#options.privateKey } : {}),
      ...(this.#options.resourceParameter === false ? { resourceParameter: false } : {}),
    };
  }

  #needsRefresh(tokens: StoredTokens): boolean {
    if (tokens.expires_at === undefined) return false;
    return (
      tokens.expires_at - Date.now() <= (this.#options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS)
    );
  }

  #expired(tokens: StoredTokens): boolean {
    return tokens.expires_at !== undefined && tokens.expires_at <= Date.now();
  }
}

async function bindCallback(port: number | undefined, required: boolean): Promise<CallbackServer> {
  try {
    return await startCallbackServer(port === undefined ? {} : { port });
  } catch (error) {
    // A remembered port may be taken now; an ephemeral one means registering again, which is fine.
    if (required || port === undefined) throw error;
    return startCallbackServer();
  }
}

export function currentTokens(record: ServerRecord | undefined): StoredTokens | undefined {
  if (record?.issuer === undefined) return undefined;
  return record.tokens?.[record.issuer];
}

function withTokens(
  record: ServerRecord,
  issuer: string,
  tokens: StoredTokens | undefined,
): ServerRecord {
  const all = { ...(record.tokens ?? {}) };
  if (tokens === undefined) delete all[issuer];
  else all[issuer] = tokens;
  return { ...record, tokens: all };
}

function toStored(
  tokens: OAuthTokens,
  requestedScope: string,
  previousRefresh?: string,
  dpop = false,
): StoredTokens {
  const type = tokens.token_type.toLowerCase();
  // A DPoP token is usable only with the key that asked for it (RFC 9449 §5).
  if (type !== 'bearer' && !(type === 'dpop' && dpop)) {
    throw new ClientError(
      'ClientTokenRequestFailed',
      `the token endpoint issued a ${tokens.token_type} token; only Bearer${dpop ? ' and DPoP' : ''} tokens are usable here`,
    );
  }
  const refresh = tokens.refresh_token ?? previousRefresh;
  return {
    access_token: tokens.access_token,
    token_type: type === 'dpop' ? 'DPoP' : 'Bearer',
    ...(refresh === undefined ? {} : { refresh_token: refresh }),
    ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
    requested_scope: requestedScope,
    ...(tokens.expires_in === undefined
      ? {}
      : { expires_at: Date.now() + tokens.expires_in * 1000 }),
  };
}
