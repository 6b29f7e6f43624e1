import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** The name the rate-limit script is defined under on every connection (src/store/redis.ts). */
export const RATE_LIMIT_COMMAND = 'rateLimit';

/** How to reach Redis: the store config block with its secrets resolved from the environment. */
export interface RedisSettings {
  /** redis:// or rediss:// (TLS). Credentials in it are accepted, but the env options win. */
  readonly url: string;
  /** ACL user name (Redis 6 ACLs), read from the environment. */
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** PEM file of the CA that signed the server's certificate (rediss:// only). */
  readonly tlsCaFile?: string | undefined;
  /** Every key starts with it, so several deployments can share one Redis. */
  readonly keyPrefix: string;
  readonly connectTimeoutMs: number;
  /** A command that gets no answer within this time fails (the request gets 503). */
  readonly commandTimeoutMs: number;
  /** The URL names one node of a Redis Cluster; the others are discovered from it. */
  readonly cluster: boolean;
  /** Ask these Sentinels for the current master of `masterName` instead of the URL's host. */
  readonly sentinel?:
    | { readonly masterName: string; readonly nodes: readonly string[] }
    | undefined;
}

export type RedisClient = Redis | Cluster;

/** The URL without user name or password: what logs, errors and `config check` may show. */
export function describeRedisUrl(url: string): string {
  if (!URL.canParse(url)) return 'redis://(unparseable URL)';
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

function hostPort(text: string, defaultPort: number): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(text);
  if (match === null) throw new Error(`not a host:port: ${text}`);
  return { host: match[1] ?? text, port: match[2] === undefined ? defaultPort : Number(match[2]) };
}

/**
 * Options shared by every connection. Fail-closed choices: a command waits at most
 * `commandTimeoutMs` (also while the connection is down, queued), is retried once after a
 * reconnect, then fails; reconnection never stops, so service resumes without a restart when
 * Redis comes back.
 */
function baseOptions(settings: RedisSettings): RedisOptions {
  const url = new URL(settings.url);
  const tls = url.protocol === 'rediss:';
  const username = settings.username ?? (url.username ? decodeURIComponent(url.username) : '');
  const password = settings.password ?? (url.password ? decodeURIComponent(url.password) : '');
  return {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls
      ? {
          tls: {
            // SNI carries host names only (RFC 6066 §3); an IP address is checked against the
            // certificate's IP SANs without it.
            ...(isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0
              ? { servername: url.hostname }
              : {}),
            ...(settings.tlsCaFile === undefined ? {} : { ca: readFileSync(settings.tlsCaFile) }),
          },
        }
      : {}),
    connectTimeout: settings.connectTimeoutMs,
    commandTimeout: settings.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    // Commands issued in the same tick share one write: the hot path stays at one round trip
    // however many keys it touches.
    enableAutoPipelining: true,
    // Except the rate-limit script: its caller (src/store/redis-rate-limit.ts) already sends one
    // call per event-loop turn for every request of that turn, and an automatic pipeline would
    // only add its own per-batch setup (a pipeline object copying every defined script) on top.
    autoPipeliningIgnoredCommands: [RATE_LIMIT_COMMAND],
    lazyConnect: false,
  };
}

/** Opens the connection (it connects in the background; commands wait for it). */
export function connectRedis(settings: RedisSettings): RedisClient {
  const url = new URL(settings.url);
  const options = baseOptions(settings);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new Error(`the database in the Redis URL is not a number`);
  if (settings.cluster) {
    if (db !== 0) throw new Error('Redis Cluster has only database 0; drop the /N from the URL');
    const seed = hostPort(url.host, 6379);
    return new Cluster([seed], {
      redisOptions: options,
      enableOfflineQueue: true,
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: [RATE_LIMIT_COMMAND],
      clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
      scaleReads: 'master',
    });
  }
  if (settings.sentinel !== undefined) {
    return new Redis({
      ...options,
      db,
      name: settings.sentinel.masterName,
      sentinels: settings.sentinel.nodes.map((node) => hostPort(node, 26379)),
      role: 'master',
      ...(options.username === undefined ? {} : { sentinelUsername: options.username }),
      ...(options.password === undefined ? {} : { sentinelPassword: options.password }),
      ...(options.tls === undefined ? {} : { enableTLSForSentinelMode: true }),
    });
  }
  const { host, port } = hostPort(url.host, 6379);
  return new Redis({ ...options, host, port, db });
}
