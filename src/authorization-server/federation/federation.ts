import type { LoadedConfig } from '../../config/index.ts';
import type { GuardedFetch } from '../../net/index.ts';
import type { Store } from '../../store/index.ts';
import { IdentityProvider } from './provider.ts';
import { TokenVault } from './token-vault.ts';

/** The provider's callback: one fixed path on the authorization server. */
export const FEDERATION_PATHS = {
  start: '/oauth/idp/start',
  callback: '/oauth/idp/callback',
} as const;

/** How long a sign-in at a provider may take, from the button to the callback. */
export const SIGN_IN_TTL_MS = 10 * 60_000;

/** Clock difference allowed on ID token exp/iat (OpenID Connect Core §3.1.3.7 items 9-10). */
const ID_TOKEN_SKEW_SECONDS = 60;

/**
 * Every configured identity provider, and what the authorization server needs to know about
 * them: whether the local password form is offered, and whose tokens are kept (sealed) because
 * an upstream's credentials come from them.
 */
export class Federation {
  readonly providers: ReadonlyMap<string, IdentityProvider>;
  /** Seals kept provider tokens; undefined when no upstream needs them. */
  readonly vault: TokenVault | undefined;
  readonly #keep: ReadonlySet<string>;
  readonly #localLogin: boolean | undefined;

  constructor(
    loaded: LoadedConfig,
    deps: { fetch: GuardedFetch; now: () => number; issuer: string },
  ) {
    const as = loaded.config.authorization_server;
    const callbackUrl = `${new URL(deps.issuer).origin}${FEDERATION_PATHS.callback}`;
    this.providers = new Map(
      as.identity_providers.map((config) => [
        config.name,
        new IdentityProvider(config, {
          fetch: deps.fetch,
          clientSecret: loaded.secrets.identityProviderSecrets[config.name],
          callbackUrl,
          now: deps.now,
          clockSkewSeconds: ID_TOKEN_SKEW_SECONDS,
        }),
      ]),
    );
    const keep = new Set<string>();
    for (const upstream of loaded.config.upstreams) {
      const credentials = upstream.credentials;
      if (credentials !== undefined && credentials.type !== 'static')
        keep.add(credentials.provider);
    }
    this.#keep = keep;
    const keys = loaded.secrets.providerTokenKeys;
    this.vault = keys === undefined || keys.length === 0 ? undefined : new TokenVault(keys);
    this.#localLogin = as.local_login;
  }

  get(name: string | undefined): IdentityProvider | undefined {
    return name === undefined ? undefined : this.providers.get(name);
  }

  /** Whether the person's provider tokens are kept (an upstream's credentials need them). */
  keepsTokensOf(provider: string): boolean {
    return this.#keep.has(provider) && this.vault !== undefined;
  }

  /**
   * The password form is offered unless local_login is false; by default only when local users
   * exist or no provider is configured (then it is the only way in).
   */
  async localLoginOffered(store: Store): Promise<boolean> {
    if (this.#localLogin !== undefined) return this.#localLogin;
    return this.providers.size === 0 || (await store.hasLocalUsers());
  }

  /** Checks what can be checked before serving (private key files). */
  async ready(): Promise<void> {
    await Promise.all([...this.providers.values()].map((provider) => provider.ready()));
  }
}
