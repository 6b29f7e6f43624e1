/**
 * The Redis store and shared state, against their single-process counterparts in the same run:
 * - the gateway's throughput with its rate limits in Redis (what several replicas share) over
 *   the same gateway with in-memory counters (goal: at least 0.85×);
 * - Redis round trips and scripts per gateway request, counted by the server (INFO stats and
 *   commandstats) over the measured runs (goal: at most one round trip);
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
import { type BenchChild, processCpuSeconds, startChild } from './lib/child.ts';
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
    /**
     * Redis limiter req/s over in-memory limiter req/s (goal ≥ 0.85): the median of each round's
     * ratio (both measured back to back in that round).
     */
    readonly ratio: number;
    /**
     * Redis round trips per gateway request during the measured rounds: commands clients sent
     * (INFO commandstats), each one request-and-answer, over gateway requests answered.
     */
    readonly redisRoundTripsPerRequest: number;
    /** The same, by command. */
    readonly redisCommandsPerRequest: Readonly<Record<string, number>>;
    /** Socket reads Redis made per gateway request (INFO stats total_reads_processed). */
    readonly redisReadsPerRequest: number;
    /**
     * CPU microseconds per request answered over the measured rounds: each gateway process's,
     * and the redis-server's during the Redis rounds (what the Redis host pays).
     */
    readonly cpuMicrosPerRequest: {
      readonly memoryLimiter: number;
      readonly redisLimiter: number;
      readonly redisServer: number;
    };
  };
  readonly refresh: { readonly sqlite: RefreshFigures; readonly redis: RefreshFigures };
}

/**
 * What Redis itself counted, read from INFO on one connection opened for the purpose:
 * - `calls`: calls per command (INFO commandstats). Commands a script runs inside are counted
 *   there too: the rate-limit script's INCR, PTTL and PEXPIRE, which the gateway never sends
 *   itself, are left out (and the probe's own INFO), so what remains is what clients sent, each
 *   command one request-and-answer on the wire;
 * - `reads`: read events on client sockets (INFO stats total_reads_processed): the client
 *   writes commands issued close together in one go, so under load there are fewer reads than
 *   commands.
 */
interface RedisCounts {
  readonly calls: ReadonlyMap<string, number>;
  readonly reads: number;
}

const RUN_INSIDE_SCRIPTS = new Set(['incr', 'pttl', 'pexpire', 'info']);

async function redisCounts(client: Redis): Promise<RedisCounts> {
  const stats = await client.info('stats');
  const commandstats = await client.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of commandstats.matchAll(/^cmdstat_([a-z|-]+):calls=(\d+)/gm)) {
    calls.set(match[1] ?? '', Number(match[2]));
  }
  const reads = Number(/^total_reads_processed:(\d+)/m.exec(stats)?.[1] ?? Number.NaN);
  return { calls, reads };
}

/** What clients sent between two probes: commands by name, and socket reads. */
function since(
  before: RedisCounts,
  after: RedisCounts,
): { calls: Map<string, number>; reads: number } {
  const calls = new Map<string, number>();
  for (const [name, count] of after.calls) {
    if (RUN_INSIDE_SCRIPTS.has(name)) continue;
    const sent = count - (before.calls.get(name) ?? 0);
    if (sent > 0) calls.set(name, sent);
  }
  // The later probe's two INFO commands are two reads (the earlier probe's first one is not).
  return { calls, reads: after.reads - before.reads - 2 };
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
      return { name, url, headers, child };
    };
    const memory = await target('portcullis-memory-limits', {});
    const shared = await target('portcullis-redis-limits', { redis: `${redis.url}/0` });
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'hello' } },
    });
    // CPU seconds each gateway process spent per request answered, over the measured rounds:
    // unlike requests per second, hardly moved by what else the machine runs.
    const cpu = new Map<string, { seconds: number; requests: number }>();
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
    const measure = async (t: { name: string; child: BenchChild } & Parameters<typeof load>[0]) => {
      const started = t.child.cpuSeconds();
      const result = await load(t, options.seconds);
      const spent = cpu.get(t.name) ?? { seconds: 0, requests: 0 };
      cpu.set(t.name, {
        seconds: spent.seconds + t.child.cpuSeconds() - started,
        requests: spent.requests + result.total,
      });
      return result;
    };
    const memoryRounds: LoadResult[] = [];
    const redisRounds: LoadResult[] = [];
    const commands = new Map<string, number>();
    let reads = 0;
    let redisSeconds = 0;
    let requests = 0;
    const probe = new Redis({ host: '127.0.0.1', port: redis.port, enableReadyCheck: false });
    try {
      const measureRedis = async () => {
        const before = await redisCounts(probe);
        const redisCpu = processCpuSeconds(redis.pid);
        const measured = await measure(shared);
        redisSeconds += processCpuSeconds(redis.pid) - redisCpu;
        const sent = since(before, await redisCounts(probe));
        for (const [name, count] of sent.calls) {
          commands.set(name, (commands.get(name) ?? 0) + count);
        }
        reads += sent.reads;
        requests += measured.total;
        redisRounds.push(measured);
      };
      // Each round measures both gateways back to back, in turns of order, so that a change in
      // the machine's load between rounds weighs on both sides of the round's ratio alike.
      for (let round = 0; round < options.rounds; round++) {
        if (round % 2 === 1) await measureRedis();
        memoryRounds.push(await measure(memory));
        if (round % 2 === 0) await measureRedis();
      }
    } finally {
      probe.disconnect();
    }
    const micros = (spent: { seconds: number; requests: number } | undefined) =>
      spent === undefined
        ? Number.NaN
        : Math.round((spent.seconds * 1e6) / Math.max(1, spent.requests));
    const perRequest = (count: number) => Number((count / Math.max(1, requests)).toFixed(3));
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
          median(
            redisRounds.map(
              (round, index) =>
                round.requestsPerSecond / (memoryRounds[index]?.requestsPerSecond ?? Number.NaN),
            ),
          ).toFixed(3),
        ),
        redisRoundTripsPerRequest: perRequest([...commands.values()].reduce((a, b) => a + b, 0)),
        redisCommandsPerRequest: Object.fromEntries(
          [...commands].map(([name, count]) => [name, perRequest(count)]),
        ),
        redisReadsPerRequest: perRequest(reads),
        cpuMicrosPerRequest: {
          memoryLimiter: micros(cpu.get(memory.name)),
          redisLimiter: micros(cpu.get(shared.name)),
          redisServer: micros({ seconds: redisSeconds, requests }),
        },
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
    `CPU per request: the gateway ${gateway.cpuMicrosPerRequest.memoryLimiter} µs with its limits in memory, ${gateway.cpuMicrosPerRequest.redisLimiter} µs with them in Redis; redis-server ${gateway.cpuMicrosPerRequest.redisServer} µs.`,
    '',
    `Redis limits over in-memory limits: ${gateway.ratio} (goal ≥ 0.85; the median of the rounds' ratios, each round measuring both back to back, in turns of order). Redis round trips per gateway request: ${gateway.redisRoundTripsPerRequest} (goal ≤ 1): the commands clients sent, counted by Redis (INFO commandstats, less the commands scripts run inside) over gateway requests answered; by command: ${
      Object.entries(gateway.redisCommandsPerRequest)
        .map(([name, count]) => `${name} ${count}`)
        .join(', ') || 'none'
    }. The requests of one event-loop turn share one script call (each request's keys counted together in it), so under load there are fewer calls than requests: Redis made ${gateway.redisReadsPerRequest} socket reads per request. The address is screened in the replica's memory before the token is verified and counted in Redis with the subject and the session in one script; revocation checks are answered from the pub/sub-fed cache; the counters skip the AOF (redis.set_repl), so appendfsync always costs them nothing.`,
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
