import { isAbsolute, resolve } from 'node:path';
import type { LoadedConfig } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/**
 * Opens the store the `store` config block names. A relative SQLite path is taken from `cwd`
 * (the quickstart keeps its state under ./data/).
 */
export function openStore(loaded: Pick<LoadedConfig, 'config' | 'source'>, cwd: string): Store {
  const { sqlite, redis } = loaded.config.store;
  if (sqlite !== undefined)
    return new SqliteStore(isAbsolute(sqlite) ? sqlite : resolve(cwd, sqlite));
  throw new ConfigError(
    'ConfigRefused',
    [
      {
        path: 'store.redis',
        message: `the Redis store is not available in this version (found ${redis === undefined ? 'nothing' : 'a redis URL'})`,
        fix: 'use store.sqlite: ./data/portcullis.db',
      },
    ],
    { source: loaded.source },
  );
}
