import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { type LoadedConfig, unavailableStoreBackends } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { RedisStore } from './redis.ts';
import type { RedisSettings } from './redis-connection.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

type StoreConfig = Pick<LoadedConfig, 'config' | 'source'> & {
  readonly secrets?: Pick<LoadedConfig['secrets'], 'redisUsername' | 'redisPassword'>;
};

/**
 * Opens the store the `store` config block names. A relative SQLite path (and a relative CA
 * file) is taken from `cwd` (the quickstart keeps its state under ./data/). A Redis store
 * connects in the background; its first operation waits for the connection.
 */
export function openStore(loaded: StoreConfig, cwd: string): Store {
  const { sqlite, redis } = loaded.config.store;
  // The same rule loading applies (src/config/store-backends.ts), asked again here.
  const unavailable = unavailableStoreBackends(loaded.config.store);
  if (unavailable.length === 0 && sqlite !== undefined)
    return new SqliteStore(isAbsolute(sqlite) ? sqlite : resolve(cwd, sqlite));
  if (unavailable.length === 0 && redis !== undefined) {
    return new RedisStore(redisSettings(loaded, cwd));
  }
  throw new ConfigError(
    'ConfigRefused',
    unavailable.length > 0
      ? unavailable
      : [{ path: 'store', message: 'names no backend', fix: 'set store.sqlite or store.redis' }],
    { source: loaded.source },
  );
}

/** The Redis connection settings of a config, with its secrets; refuses a missing CA file. */
export function redisSettings(loaded: StoreConfig, cwd: string): RedisSettings {
  const { redis } = loaded.config.store;
  // Defaults as the schema fills them, for a config built by hand (tests, the library API).
  const given: Partial<LoadedConfig['config']['store']['redis_options']> =
    loaded.config.store.redis_options ?? {};
  const options = {
    ...given,
    key_prefix: given.key_prefix ?? 'portcullis:',
    connect_timeout_ms: given.connect_timeout_ms ?? 2000,
    command_timeout_ms: given.command_timeout_ms ?? 1000,
    cluster: given.cluster ?? false,
  };
  if (redis === undefined) {
    throw new ConfigError(
      'ConfigRefused',
      [{ path: 'store.redis', message: 'is not set', fix: 'set store.redis: redis://HOST:6379/0' }],
      { source: loaded.source },
    );
  }
  const caFile =
    options.tls_ca_file === undefined
      ? undefined
      : isAbsolute(options.tls_ca_file)
        ? options.tls_ca_file
        : resolve(cwd, options.tls_ca_file);
  if (caFile !== undefined && !existsSync(caFile)) {
    throw new ConfigError(
      'ConfigRefused',
      [
        {
          path: 'store.redis_options.tls_ca_file',
          message: `names ${caFile}, which does not exist`,
          fix: 'point it at the PEM file of the CA that signed the Redis server certificate',
        },
      ],
      { source: loaded.source },
    );
  }
  return {
    url: redis,
    username: loaded.secrets?.redisUsername,
    password: loaded.secrets?.redisPassword,
    tlsCaFile: caFile,
    keyPrefix: options.key_prefix,
    connectTimeoutMs: options.connect_timeout_ms,
    commandTimeoutMs: options.command_timeout_ms,
    cluster: options.cluster,
    sentinel:
      options.sentinel === undefined
        ? undefined
        : { masterName: options.sentinel.master_name, nodes: options.sentinel.nodes },
  };
}
