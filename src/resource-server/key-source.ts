import { RequestError } from '../errors/index.ts';
import { keySetFetchChannel, publish } from '../lib/channels.ts';
import type { Logger } from '../lib/log.ts';
import { parseStrictJson } from '../lib/strict-json.ts';
import type { GuardedFetch } from '../net/index.ts';
import { buildKeySet, type KeySet, PrivateKeyMaterialError } from './key-set.ts';

/** Where verification keys come from. */
export interface KeySource {
  /**
   * The current key set without waiting, or undefined before the first load. May start a
   * background refresh when the set is older than its maximum age.
   */
  snapshot(): KeySet | undefined;
  /** The current key set, loading it first if there is none. Rejects with AuthUnavailable. */
  get(): Promise<KeySet>;
  /**
   * Called when a token names a key the set does not have: refetches, at most once per
   * cool-down (concurrent callers share one fetch), and returns the resulting set.
   */
  refreshForUnknownKey(): Promise<KeySet>;
}

/** A fixed key set, e.g. the co-located authorization server's own public keys. */
export function createStaticKeySource(keys: KeySet): KeySource {
  const ready = Promise.resolve(keys);
  return { snapshot: () => keys, get: () => ready, refreshForUnknownKey: () => ready };
}

export interface RemoteKeySourceOptions {
  /** The JWKS URL; when absent it is discovered from `metadataUrl`. */
  readonly jwksUrl?: string;
  /** RFC 8414 / OpenID discovery document whose `jwks_uri` is used, after an issuer check. */
  readonly metadataUrl?: string;
  /** The configured issuer; discovery must name exactly this one (RFC 8414 §3.3). */
  readonly issuer: string;
  readonly algorithms: readonly string[];
  readonly fetch: GuardedFetch;
  /** A key set older than this is refreshed (in the background). Default 10 min. */
  readonly maxAgeMs?: number;
  /** At most one fetch per this interval for unknown keys and stale sets. Default 30 s. */
  readonly cooldownMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export const DEFAULT_JWKS_MAX_AGE_MS = 10 * 60_000;
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** While no key set has ever loaded, a failed fetch is retried at most this often. */
export const NO_SET_RETRY_MS = 1000;

/** The remote source with its counters, for tests and readiness checks. */
export interface RemoteKeySource extends KeySource {
  /** Fetch attempts so far (JWKS documents, not counting discovery). */
  readonly fetches: number;
  /** When the current set was fetched (ms), or undefined. */
  readonly fetchedAt: number | undefined;
  /** Resolves once no fetch is under way (a background refresh, say). */
  whenIdle(): Promise<void>;
}

async function fetchJson(fetch: GuardedFetch, url: string, what: string): Promise<unknown> {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  // Only 200 is a key set; anything else (3xx is refused by the fetcher) is a failure.
  if (response.status !== 200) throw new Error(`${what} answered HTTP ${response.status}`);
  try {
    // Key sets and metadata documents decide which keys are trusted: strict, like tokens.
    return parseStrictJson(await response.text());
  } catch {
    throw new Error(`${what} is not strict JSON (valid, no member name twice)`);
  }
}

/**
 * A remote JWKS: fetched through the guarded fetcher, cached up to `maxAgeMs`, refreshed on an
 * unknown `kid` at most once per `cooldownMs` with concurrent refreshes coalesced, and the last
 * good set kept when a fetch fails or yields no usable key.
 */
export function createRemoteKeySource(options: RemoteKeySourceOptions): RemoteKeySource {
  if (options.jwksUrl === undefined && options.metadataUrl === undefined) {
    throw new TypeError('a remote key source needs jwksUrl or metadataUrl');
  }
  const now = options.now ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS;
  const cooldownMs = options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
  const { logger } = options;
  let current: KeySet | undefined;
  let fetchedAt: number | undefined;
  let lastAttempt: number | undefined;
  let pending: Promise<KeySet | undefined> | undefined;
  let discoveredJwksUrl: string | undefined;
  let fetches = 0;

  async function jwksUrl(): Promise<string> {
    if (options.jwksUrl !== undefined) return options.jwksUrl;
    if (discoveredJwksUrl !== undefined) return discoveredJwksUrl;
    const metadata = await fetchJson(options.fetch, options.metadataUrl ?? '', 'metadata_url');
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new Error('metadata_url did not return a JSON object');
    }
    const { issuer, jwks_uri: uri } = metadata as Record<string, unknown>;
    if (issuer !== options.issuer) {
      throw new Error('metadata_url names a different issuer than the configured one');
    }
    if (typeof uri !== 'string' || !URL.canParse(uri)) {
      throw new Error('metadata_url has no valid jwks_uri');
    }
    discoveredJwksUrl = uri;
    return uri;
  }

  async function load(): Promise<KeySet | undefined> {
    lastAttempt = now();
    fetches++;
    try {
      const document = await fetchJson(options.fetch, await jwksUrl(), 'JWKS');
      const set = await buildKeySet(document, options.algorithms, logger, current);
      if (set.keys.length === 0) throw new Error('the JWKS has no usable key');
      current = set;
      fetchedAt = now();
      publish(keySetFetchChannel, { outcome: 'ok' });
      return set;
    } catch (error) {
      publish(keySetFetchChannel, { outcome: 'error' });
      const details = {
        url: options.jwksUrl ?? discoveredJwksUrl ?? options.metadataUrl,
        reason: error instanceof Error ? error.message : String(error),
        keptLastGood: current !== undefined,
      };
      // A published private or secret key means the issuer's keys are compromised: say so loudly.
      if (error instanceof PrivateKeyMaterialError) {
        logger?.error(details, 'JWKS refused: it publishes private key material');
      } else logger?.warn(details, 'JWKS fetch failed');
      // A failed fetch may mean the discovery document moved the JWKS: discover again next time.
      discoveredJwksUrl = undefined;
      return current;
    }
  }

  function refresh(): Promise<KeySet | undefined> {
    pending ??= load().finally(() => {
      pending = undefined;
    });
    return pending;
  }

  const coolingDown = () => lastAttempt !== undefined && now() - lastAttempt < cooldownMs;

  function unavailable(): RequestError {
    return new RequestError('AuthUnavailable', 'no verification key set is available', {
      expose: false,
    });
  }

  function snapshot(): KeySet | undefined {
    if (
      current !== undefined &&
      fetchedAt !== undefined &&
      now() - fetchedAt > maxAgeMs &&
      pending === undefined &&
      !coolingDown()
    ) {
      void refresh();
    }
    return current;
  }

  return {
    get fetches() {
      return fetches;
    },
    get fetchedAt() {
      return fetchedAt;
    },
    async whenIdle() {
      await pending;
    },
    snapshot,
    async get() {
      let set = snapshot();
      if (set === undefined) {
        // With no set at all, every request would otherwise start a fetch as soon as the last
        // one failed: against an issuer that refuses connections, a request flood becomes a
        // fetch flood. Retry at most once per NO_SET_RETRY_MS.
        const recentFailure =
          pending === undefined &&
          lastAttempt !== undefined &&
          now() - lastAttempt < NO_SET_RETRY_MS;
        set = recentFailure ? undefined : await refresh();
      }
      if (set === undefined) throw unavailable();
      return set;
    },
    async refreshForUnknownKey() {
      const set = pending !== undefined ? await pending : coolingDown() ? current : await refresh();
      if (set === undefined) throw unavailable();
      return set;
    },
  };
}
