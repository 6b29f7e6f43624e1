import type { ConfigIssue } from '../errors/index.ts';
import type { Config } from './schema.ts';

/**
 * Which `store` backends this version can open: the one rule behind every command. Loading a
 * config applies it (so `config check`, `serve --describe`, `serve`, `users add` and
 * `keys rotate` all refuse the same configs) and `openStore` asks it again before opening
 * anything. A config that names a backend we cannot open is refused whatever else it enables:
 * otherwise a gateway configured for shared state would run on per-process state unannounced.
 * The Redis backend removes its entry here when it lands.
 */
export function unavailableStoreBackends(store: Pick<Config['store'], 'redis'>): ConfigIssue[] {
  if (store.redis === undefined) return [];
  return [
    {
      path: 'store.redis',
      message: 'the Redis store is not available in this version',
      fix: 'use store.sqlite: ./data/portcullis.db',
    },
  ];
}
