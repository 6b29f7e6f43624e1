import { isAbsolute, resolve } from 'node:path';
import { type LoadedConfig, unavailableStoreBackends } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/**
 * Opens the store the `store` config block names. A relative SQLite path is taken from `cwd`
 * (the quickstart keeps its state under ./data/).
 */
export function openStore(loaded: Pick<LoadedConfig, 'config' | 'source'>, cwd: string): Store {
  const { sqlite } = loaded.config.store;
  // The same rule loading applies (src/config/store-backends.ts), asked again here.
  const unavailable = unavailableStoreBackends(loaded.config.store);
  if (unavailable.length === 0 && sqlite !== undefined)
    return new SqliteStore(isAbsolute(sqlite) ? sqlite : resolve(cwd, sqlite));
  throw new ConfigError(
    'ConfigRefused',
    unavailable.length > 0
      ? unavailable
      : [
          {
            path: 'store',
            message: 'names no backend',
            fix: 'use store.sqlite: ./data/portcullis.db',
          },
        ],
    { source: loaded.source },
  );
}
