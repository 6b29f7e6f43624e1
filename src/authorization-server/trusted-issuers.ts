import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import type { GuardedFetch } from '../net/index.ts';

/*
 * The identity providers whose assertions the JWT bearer grant accepts (RFC 7523 §3), and their
 * signing keys: fetched from the configured jwks_url through the SSRF guard, kept for a while,
 * fetched again (at most every cool-down) when an assertion names a key we do not have.
 */

export interface TrustedProvider {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly algorithms: readonly string[];
  /** Client ids that may redeem this provider's assertions; empty means none. */
  readonly allowedClients: ReadonlySet<string>;
  readonly kind: 'id-jag' | 'workload';
  /** Claim → accepted values; every listed claim must match. */
  readonly requiredClaims: ReadonlyMap<string, readonly string[]>;
  /** Most scopes a token from these assertions may carry. */
  readonly scopes: readonly string[];
  readonly maxLifetimeSeconds: number;
}

export function trustedProvidersFrom(loaded: LoadedConfig): readonly TrustedProvider[] {
  const allowed = loaded.config.remote_mcp.allowed_scopes;
  return loaded.config.authorization_server.trusted_identity_providers.map((entry) =>
    Object.freeze({
      issuer: entry.issuer,
      jwksUrl: entry.jwks_url,
      algorithms: Object.freeze([...entry.algorithms]),
      allowedClients: new Set(entry.allowed_clients),
      kind: entry.kind,
      requiredClaims: new Map(
        Object.entries(entry.required_claims).map(([claim, value]) => [
          claim,
          typeof value === 'string' ? [value] : [...value],
        ]),
      ),
      scopes: Object.freeze((entry.scopes ?? allowed).filter((scope) => allowed.includes(scope))),
      maxLifetimeSeconds: entry.max_assertion_lifetime_seconds,
    }),
  );
}

export const ISSUER_KEYS_MAX_AGE_MS = 5 * 60_000;
export const ISSUER_KEYS_COOLDOWN_MS = 30_000;

export interface IssuerKeys {
  /** A key resolver for jose over the provider's current key set. */
  resolver(provider: TrustedProvider): Promise<JWTVerifyGetKey>;
  /** Fetches again when allowed by the cool-down; true when a new set was loaded. */
  refresh(provider: TrustedProvider): Promise<boolean>;
}

interface Entry {
  resolver: JWTVerifyGetKey;
  fetchedAt: number;
}

export function createIssuerKeys(options: {
  readonly fetch: GuardedFetch;
  readonly now: () => number;
  readonly logger?: Logger | undefined;
}): IssuerKeys {
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<Entry>>();

  async function load(provider: TrustedProvider): Promise<Entry> {
    let response: Response;
    try {
      response = await options.fetch(provider.jwksUrl, { headers: { accept: 'application/json' } });
    } catch (cause) {
      options.logger?.warn(
        { err: cause, issuer: provider.issuer },
        'identity provider JWKS fetch failed',
      );
      throw new RequestError('AuthUnavailable', 'the identity provider keys cannot be fetched', {
        cause,
      });
    }
    if (!response.ok) {
      throw new RequestError(
        'AuthUnavailable',
        `the identity provider keys answered ${response.status}`,
      );
    }
    let document: unknown;
    try {
      document = await response.json();
    } catch (cause) {
      throw new RequestError('AuthUnavailable', 'the identity provider keys are not JSON', {
        cause,
      });
    }
    const keys = (document as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) {
      throw new RequestError('AuthUnavailable', 'the identity provider keys are not a JWKS');
    }
    // Only public signature keys: anything with private members or a symmetric key is dropped.
    const usable = keys.filter(
      (key): key is Record<string, unknown> =>
        key !== null &&
        typeof key === 'object' &&
        !('d' in key) &&
        !('k' in key) &&
        (key.use === undefined || key.use === 'sig'),
    );
    const entry = {
      resolver: createLocalJWKSet({ keys: usable } as unknown as JSONWebKeySet),
      fetchedAt: options.now(),
    };
    entries.set(provider.issuer, entry);
    return entry;
  }

  function loadOnce(provider: TrustedProvider): Promise<Entry> {
    let pending = inFlight.get(provider.issuer);
    if (pending === undefined) {
      pending = load(provider).finally(() => inFlight.delete(provider.issuer));
      inFlight.set(provider.issuer, pending);
    }
    return pending;
  }

  return {
    async resolver(provider) {
      const entry = entries.get(provider.issuer);
      if (entry !== undefined && options.now() - entry.fetchedAt < ISSUER_KEYS_MAX_AGE_MS) {
        return entry.resolver;
      }
      return (await loadOnce(provider)).resolver;
    },
    async refresh(provider) {
      const entry = entries.get(provider.issuer);
      if (entry !== undefined && options.now() - entry.fetchedAt < ISSUER_KEYS_COOLDOWN_MS) {
        return false;
      }
      await loadOnce(provider);
      return true;
    },
  };
}
