import type { ConfigIssue } from '../errors/index.ts';
import type { Config } from './schema.ts';

type StoreSettings = {
  readonly redis?: Config['store']['redis'];
  readonly redis_options?: {
    readonly tls_ca_file?: string | undefined;
    readonly cluster?: boolean | undefined;
    readonly sentinel?: object | undefined;
  };
};

/**
 * Store settings no backend of this version can open: the one rule behind every command.
 * Loading a config applies it (so `config check`, `serve --describe`, `serve`, `users add`,
 * `keys rotate` and `store migrate --config` all refuse the same configs) and `openStore` asks it
 * again before opening anything, so `config check` never calls valid a store that `serve`
 * would refuse.
 */
export function unavailableStoreBackends(store: StoreSettings): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (store.redis === undefined || !URL.canParse(store.redis)) return issues;
  const url = new URL(store.redis);
  const options = store.redis_options ?? {};
  if (options.tls_ca_file !== undefined && url.protocol !== 'rediss:') {
    issues.push({
      path: 'store.redis_options.tls_ca_file',
      message: 'a CA file is only used over TLS, and the URL is redis://',
      fix: 'use a rediss:// URL, or drop tls_ca_file',
    });
  }
  if (options.cluster === true && options.sentinel !== undefined) {
    issues.push({
      path: 'store.redis_options',
      message: 'cluster and sentinel exclude each other',
      fix: 'keep cluster: true for a Redis Cluster, or sentinel for a Sentinel-managed master',
    });
  }
  const db = url.pathname.length > 1 ? url.pathname.slice(1) : '0';
  if (!/^\d+$/.test(db)) {
    issues.push({
      path: 'store.redis',
      message: `names database "${db}", which is not a number`,
      fix: 'end the URL with /0 (or another database number), or with no path',
    });
  } else if (options.cluster === true && db !== '0') {
    issues.push({
      path: 'store.redis',
      message: `names database ${db}, but a Redis Cluster has only database 0`,
      fix: 'drop the /N from the URL',
    });
  }
  return issues;
}
