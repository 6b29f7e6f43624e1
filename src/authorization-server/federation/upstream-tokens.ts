import type { LoadedConfig } from '../../config/index.ts';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import type { Store } from '../../store/index.ts';
import { sha256 } from '../crypto.ts';
import type { Federation } from './federation.ts';
import { endGrantsOf } from './forget.ts';
import { ProviderGrantInvalid } from './provider.ts';
import type { ProviderTokenSet } from './token-vault.ts';

/** Refreshed or re-exchanged this long before expiry, so a token never expires in flight. */
const EXPIRY_MARGIN_MS = 60_000;
/** Most exchanged tokens cached (oldest dropped first). */
const MAX_CACHED_EXCHANGES = 10_000;

type UpstreamCredentialsConfig = NonNullable<
  LoadedConfig['config']['upstreams'][number]['credentials']
>;

const unavailable = (message: string, reauthorizeUrl: string) =>
  new RequestError('UpstreamCredentialUnavailable', message, {
    details: { reauthorize_url: reauthorizeUrl },
  });

/**
 * Per-person upstream credentials from the identity provider: the person's own provider access
 * token (refreshed with its refresh token when near expiry) or one exchanged for it (RFC 8693),
 * cached until shortly before it expires. The client's Portcullis token is never involved.
 */
export class ProviderUpstreamCredentials {
  readonly #federation: Federation;
  readonly #store: Store;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #byUpstream: ReadonlyMap<string, UpstreamCredentialsConfig>;
  readonly #reauthorizeUrl: string;
  readonly #refreshing = new Map<string, Promise<ProviderTokenSet>>();
  readonly #exchanged = new Map<string, { token: string; expiresAt: number | undefined }>();

  constructor(
    loaded: LoadedConfig,
    deps: {
      federation: Federation;
      store: Store;
      now?: () => number;
      logger?: Logger;
      signInUrl: string;
    },
  ) {
    this.#federation = deps.federation;
    this.#store = deps.store;
    this.#now = deps.now ?? Date.now;
    this.#logger = deps.logger;
    this.#reauthorizeUrl = deps.signInUrl;
    const byUpstream = new Map<string, UpstreamCredentialsConfig>();
    for (const upstream of loaded.config.upstreams) {
      if (upstream.credentials !== undefined && upstream.credentials.type !== 'static') {
        byUpstream.set(upstream.name, upstream.credentials);
      }
    }
    this.#byUpstream = byUpstream;
  }

  /** Whether this upstream's credentials are per person. */
  handles(upstream: string): boolean {
    return this.#byUpstream.has(upstream);
  }

  /** The Authorization header for `subject`'s request to `upstream`. */
  async headersFor(upstream: string, subject: string): Promise<Record<string, string>> {
    const credentials = this.#byUpstream.get(upstream);
    if (credentials === undefined || credentials.type === 'static') return {};
    const accessToken = await this.#providerAccessToken(subject, credentials.provider);
    if (credentials.type === 'identity_provider_token') {
      return { authorization: `Bearer ${accessToken}` };
    }
    const target = {
      ...(credentials.audience === undefined ? {} : { audience: credentials.audience }),
      ...(credentials.resource === undefined ? {} : { resource: credentials.resource }),
      ...(credentials.scopes === undefined ? {} : { scopes: credentials.scopes }),
    };
    // Keyed by the subject token itself: a new sign-in (or a refresh) gets a new exchange.
    const key = `${upstream}\n${sha256(accessToken)}`;
    const cached = this.#exchanged.get(key);
    if (cached !== undefined && !this.#expiring(cached.expiresAt)) {
      return { authorization: `Bearer ${cached.token}` };
    }
    const provider = this.#federation.get(credentials.provider);
    if (provider === undefined) throw new Error(`provider ${credentials.provider} not configured`);
    let exchanged: { accessToken: string; expiresAt: number | undefined };
    try {
      exchanged = await provider.exchange(accessToken, target);
    } catch (error) {
      if (error instanceof ProviderGrantInvalid) {
        await this.#endGrants(subject, provider.name);
        throw unavailable(
          `${provider.displayName} no longer accepts your sign-in; sign in again`,
          this.#reauthorizeUrl,
        );
      }
      throw error;
    }
    if (this.#exchanged.size >= MAX_CACHED_EXCHANGES) {
      const oldest = this.#exchanged.keys().next().value;
      if (oldest !== undefined) this.#exchanged.delete(oldest);
    }
    this.#exchanged.set(key, { token: exchanged.accessToken, expiresAt: exchanged.expiresAt });
    return { authorization: `Bearer ${exchanged.accessToken}` };
  }

  #expiring(expiresAt: number | undefined): boolean {
    return expiresAt !== undefined && expiresAt - EXPIRY_MARGIN_MS <= this.#now();
  }

  /** The person's provider access token, refreshed when near expiry; never stale, never another's. */
  async #providerAccessToken(subject: string, providerName: string): Promise<string> {
    const vault = this.#federation.vault;
    const provider = this.#federation.get(providerName);
    const missing = () =>
      unavailable(
        `this server acts on your behalf with your ${provider?.displayName ?? providerName} sign-in, which it does not hold; sign in again`,
        this.#reauthorizeUrl,
      );
    if (vault === undefined || provider === undefined) throw missing();
    const [identity, user] = await Promise.all([
      this.#store.getFederatedIdentity(subject),
      this.#store.getUser(subject),
    ]);
    if (
      identity === undefined ||
      identity.provider !== providerName ||
      identity.sealedTokens === undefined ||
      user === undefined ||
      user.disabled
    ) {
      throw missing();
    }
    const tokens = vault.open(subject, identity.sealedTokens);
    if (tokens === undefined) throw missing();
    if (!this.#expiring(tokens.expiresAt)) return tokens.accessToken;

    // One refresh per person at a time: a provider that rotates refresh tokens would otherwise
    // see the second use of the old one as a replay.
    let refreshing = this.#refreshing.get(subject);
    if (refreshing === undefined) {
      const sealed = identity.sealedTokens;
      refreshing = provider
        .refresh(tokens)
        .then(async (fresh) => {
          await this.#store.replaceProviderTokens(
            subject,
            sealed,
            vault.seal(subject, fresh),
            this.#now(),
          );
          return fresh;
        })
        .finally(() => this.#refreshing.delete(subject));
      this.#refreshing.set(subject, refreshing);
    }
    try {
      return (await refreshing).accessToken;
    } catch (error) {
      if (error instanceof ProviderGrantInvalid) {
        await this.#endGrants(subject, providerName);
        throw unavailable(
          `${provider.displayName} ended your sign-in; sign in again`,
          this.#reauthorizeUrl,
        );
      }
      this.#logger?.warn({ err: error, provider: providerName }, 'provider token refresh failed');
      throw unavailable(
        `your ${provider.displayName} sign-in cannot be renewed right now; try again or sign in again`,
        this.#reauthorizeUrl,
      );
    }
  }

  async #endGrants(subject: string, provider: string): Promise<void> {
    const revoked = await endGrantsOf(this.#store, subject, this.#now());
    this.#logger?.warn(
      { provider, grants_revoked: revoked },
      "the identity provider refused the person's refresh token; their grants here are revoked",
    );
  }
}
