/**
 * The Redis store and shared state, against their single-process counterparts in the same run:
 * - the gateway's throughput with its rate limits in Redis (what several replicas share) over
 *   the same gateway with in-memory counters (goal: at least 0.85×);
 * - Redis commands per gateway request, counted by the server (INFO stats) over a measured run;
 * - refresh-token grants per second with the authorization server on Redis beside SQLite.
 * Redis runs on loopback with AOF and `appendfsync always`, the setting docs/deployment.md's
 * durability statements assume.
 *
 *   node bench/redis.ts            (or npm run bench -- --only redis)
 */
import { realpathSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/store/index.ts';
import { freePort, startRedis } from '../test/store/redis-harness.ts';
import { type BenchChild, startChild } from './lib/child.ts';
import {
  AUDIENCE,
  benchCredentials,
  ISSUER,
  median,
  openSession,
  postHeaders,
} from './lib/gateway.ts';
import { type LoadResult, runLoad } from './lib/load.ts';
import { benchRefresh, type RefreshFigures } from './refresh.ts';

const SERVER_CORES = '0';
const LOAD_CORES = '1';

export interface RedisBenchOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly refreshMs: number;
}

export interface RedisBenchResult {
  readonly machine: { cores: number; cpu: string; node: string; date: string };
  readonly settings: RedisBenchOptions;
  readonly gateway: {
    readonly memoryLimiter: { requestsPerSecond: number; p99Ms: number; rounds: LoadResult[] };
    readonly redisLimiter: { requestsPerSecond: number; p99Ms: number; rounds: LoadResult[] };
    /** Redis limiter req/s over in-memory limiter req/s (goal ≥ 0.85). */
    readonly ratio: number;
    /**
     * Scripts run per gateway request during the measured rounds (the subject's and the
     * session's are sent together, so they share a round trip).
     */
    readonly redisCommandsPerRequest: number;
  };
  readonly refresh: { readonly sqlite: RefreshFigures; readonly redis: RefreshFigures };
}

/**
 * Scripts clients ran (EVALSHA, and EVAL when a script is sent again). The gateway's hot path
 * sends nothing else, and each is one round trip; the commands a script runs inside count
 * in INFO commandstats too, so they are left out.
 */
async function clientCommands(port: number): Promise<number> {
  const client = new Redis({ host: '127.0.0.1', port });
  try {
    const info = await client.info('commandstats');
    let total = 0;
    for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
      if (match[1] === 'evalsha' || match[1] === 'eval') total += Number(match[2]);
    }
    return total;
  } finally {
    client.disconnect();
  }
}

export async function benchRedis(options: RedisBenchOptions): Promise<RedisBenchResult> {
  const redis = await startRedis({ aof: true });
  const { jwks, token } = await benchCredentials();
  const children: BenchChild[] = [];
  try {
    const upstream = await startChild('upstream', 'bench/servers/echo-upstream.ts', [], {
      cores: SERVER_CORES,
    });
    children.push(upstream);
    const target = async (name: string, extra: Record<string, unknown>) => {
      const child = await startChild(
        name,
        'bench/servers/portcullis.ts',
        [String(upstream.port), jwks, ISSUER, AUDIENCE, JSON.stringify(extra)],
        { cores: SERVER_CORES },
      );
      children.push(child);
      const url = `http://127.0.0.1:${child.port}/mcp`;
      const headers = { ...postHeaders(token), ...(await openSession(url, postHeaders(token))) };
      return { name, url, headers };
    };
    const memory = await target('portcullis-memory-limits', {});
    const shared = await target('portcullis-redis-limits', { redis: `${redis.url}/0` });
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'hello' } },
    });
    const load = (t: { url: string; headers: Record<string, string> }, seconds: number) =>
      runLoad({
        url: t.url,
        headers: t.headers,
        body,
        seconds,
        connections: options.connections,
        cores: LOAD_CORES,
      });
    for (const t of [memory, shared]) {
      const warm = await load(t, 1);
      if (warm.non2xx > 0 || warm.errors > 0) {
        throw new Error(`${t.name}: warm-up saw ${warm.non2xx} non-2xx and ${warm.errors} errors`);
      }
    }
    const memoryRounds: LoadResult[] = [];
    const redisRounds: LoadResult[] = [];
    let commands = 0;
    let requests = 0;
    for (let round = 0; round < options.rounds; round++) {
      memoryRounds.push(await load(memory, options.seconds));
      const before = await clientCommands(redis.port);
      const measured = await load(shared, options.seconds);
      commands += (await clientCommands(redis.port)) - before;
      requests += measured.total;
      redisRounds.push(measured);
    }
    const summary = (rounds: LoadResult[]) => ({
      requestsPerSecond: Number(median(rounds.map((r) => r.requestsPerSecond)).toFixed(1)),
      p99Ms: Number(median(rounds.map((r) => r.p99Ms)).toFixed(3)),
      rounds,
    });
    const memoryLimiter = summary(memoryRounds);
    const redisLimiter = summary(redisRounds);
    for (const child of children.splice(0)) await child.stop();

    const sqliteRefresh = await benchRefresh(options.refreshMs);
    const prefix = `bench-refresh-${await freePort()}:`;
    const redisRefresh = await benchRefresh(
      options.refreshMs,
      () =>
        new RedisStore({
          url: `${redis.url}/0`,
          keyPrefix: prefix,
          connectTimeoutMs: 2000,
          commandTimeoutMs: 5000,
          cluster: false,
        }),
    );
    return {
      machine: {
        cores: availableParallelism(),
        cpu: cpus()[0]?.model ?? 'unknown',
        node: process.version,
        date: new Date().toISOString(),
      },
      settings: options,
      gateway: {
        memoryLimiter,
        redisLimiter,
        ratio: Number(
          (redisLimiter.requestsPerSecond / memoryLimiter.requestsPerSecond).toFixed(3),
        ),
        redisCommandsPerRequest: Number((commands / Math.max(1, requests)).toFixed(2)),
      },
      refresh: { sqlite: sqliteRefresh, redis: redisRefresh },
    };
  } finally {
    for (const child of children) await child.stop();
    await redis.stop();
  }
}

export function redisMarkdown(result: RedisBenchResult): string {
  const { gateway, refresh, machine, settings } = result;
  return [
    '## Redis: shared rate limits and the store',
    '',
    `${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${machine.date}; Redis on loopback with AOF, appendfsync always; ${settings.rounds} rounds of ${settings.seconds} s, ${settings.connections} connections, one MCP session each gateway.`,
    '',
    '| gateway | req/s (median) | p99 ms |',
    '| --- | --- | --- |',
    `| rate limits in memory | ${gateway.memoryLimiter.requestsPerSecond} | ${gateway.memoryLimiter.p99Ms} |`,
    `| rate limits in Redis | ${gateway.redisLimiter.requestsPerSecond} | ${gateway.redisLimiter.p99Ms} |`,
    '',
    `Redis limits over in-memory limits: ${gateway.ratio} (goal ≥ 0.85). Redis scripts per gateway request: ${gateway.redisCommandsPerRequest}, in two round trips: the address counter before the token is verified, then the subject's and the session's sent together; revocation checks are answered from the pub/sub-fed cache; the counters skip the AOF (redis.set_repl), so appendfsync always costs them nothing.`,
    '',
    '| refresh grants | sequential tokens/s | p50 ms | p99 ms | 8 concurrent families tokens/s |',
    '| --- | --- | --- | --- | --- |',
    `| SQLite | ${refresh.sqlite.sequential.tokensPerSecond} | ${refresh.sqlite.sequential.p50Ms} | ${refresh.sqlite.sequential.p99Ms} | ${refresh.sqlite.concurrent.tokensPerSecond} |`,
    `| Redis | ${refresh.redis.sequential.tokensPerSecond} | ${refresh.redis.sequential.p50Ms} | ${refresh.redis.sequential.p99Ms} | ${refresh.redis.concurrent.tokensPerSecond} |`,
  ].join('\n');
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const quick = process.argv.includes('--quick');
  const result = await benchRedis(
    quick
      ? { seconds: 2, rounds: 1, connections: 32, refreshMs: 1000 }
      : { seconds: 5, rounds: 3, connections: 32, refreshMs: 3000 },
  );
  console.log(redisMarkdown(result));
}
