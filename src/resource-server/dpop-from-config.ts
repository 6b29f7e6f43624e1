import { type LoadedConfig, MAX_CLOCK_SKEW_SECONDS } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { createStoreReplayCache, type Store } from '../store/index.ts';
import {
  createDpopProofVerifier,
  type DpopAlgorithm,
  type DpopContext,
  type DpopProofVerifier,
} from './dpop.ts';
import { DPOP_ALGORITHMS } from './dpop-key.ts';
import { createDpopNonces, type DpopNonces } from './dpop-nonce.ts';
import type { DpopMode } from './presentation.ts';
import { createMemoryReplayCache, type ReplayCache } from './replay-cache.ts';

/*
 * DPoP as a configuration asks for it: per upstream `dpop: off | allowed | required`, the proof
 * algorithms (`remote_mcp.dpop_algorithms`), the clock skew (`remote_mcp.clock_skew_seconds`,
 * at most 300 s), server nonces (`remote_mcp.dpop_nonces`, derived from the token-id HMAC secret
 * so every instance accepts the same ones), and where used proof ids are remembered: the shared
 * store when it is Redis (every instance must see every proof), else this process's memory.
 */

export interface ConfiguredDpop {
  /** The mode of a route, by upstream name (`off` for an unknown name). */
  modeOf(upstream: string): DpopMode;
  /** True when some route accepts DPoP. */
  readonly enabled: boolean;
  /** Proof checker for requests to the gateway's routes; undefined when no route accepts DPoP. */
  readonly resourceProofs: DpopProofVerifier | undefined;
  /** Proof checker for the co-located token endpoint; undefined when no route accepts DPoP. */
  readonly tokenEndpointProofs: DpopProofVerifier | undefined;
}

export interface DpopFromConfigOptions {
  /** The store the authorization server uses; a Redis one keeps proof ids for every instance. */
  readonly store?: Store;
  readonly now?: () => number;
}

/** Store-backed replay memory outlives the longest accepted proof: 2 × 300 s + 1 s. */
const STORE_WINDOW_MS = (2 * MAX_CLOCK_SKEW_SECONDS + 2) * 1000;

export function createDpopFromConfig(
  loaded: LoadedConfig,
  options: DpopFromConfigOptions = {},
): ConfiguredDpop {
  const modes = new Map(loaded.config.upstreams.map((upstream) => [upstream.name, upstream.dpop]));
  const modeOf = (name: string): DpopMode => modes.get(name) ?? 'off';
  const enabled = [...modes.values()].some((mode) => mode !== 'off');
  if (!enabled) {
    return { modeOf, enabled, resourceProofs: undefined, tokenEndpointProofs: undefined };
  }
  const rm = loaded.config.remote_mcp;
  const algorithms = rm.dpop_algorithms.filter((alg): alg is DpopAlgorithm =>
    (DPOP_ALGORITHMS as readonly string[]).includes(alg),
  );
  let nonces: DpopNonces | undefined;
  if (rm.dpop_nonces) {
    const secret = loaded.secrets.tokenIdHmacSecret;
    if (secret === undefined) {
      throw new ConfigError('ConfigRefused', [
        {
          path: 'remote_mcp.dpop_nonces',
          message: 'DPoP nonces are derived from the token-id HMAC secret, which is not set',
          fix: 'set remote_mcp.token_id_hmac_secret_env, or turn dpop_nonces off',
        },
      ]);
    }
    nonces = createDpopNonces({ secret });
  }
  const replay = (namespace: string): ReplayCache =>
    options.store !== undefined && options.store.backend === 'redis'
      ? createStoreReplayCache(options.store, { namespace, windowMs: STORE_WINDOW_MS })
      : createMemoryReplayCache();
  const build = (context: DpopContext) =>
    createDpopProofVerifier({
      context,
      algorithms,
      clockSkewSeconds: Math.min(rm.clock_skew_seconds, MAX_CLOCK_SKEW_SECONDS),
      replay: replay(`dpop-${context}`),
      ...(nonces === undefined ? {} : { nonces }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
  return {
    modeOf,
    enabled,
    resourceProofs: build('resource'),
    tokenEndpointProofs: build('token-endpoint'),
  };
}
