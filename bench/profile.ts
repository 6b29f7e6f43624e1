/**
 * Where the gateway's time goes: runs the HTTP section's load against the gateway (JWT,
 * per-tool policy, rate limits, audit on, default log level), and after a warm-up profiles a
 * stretch of it with V8's CPU profiler (through the target's profile hook), then prints the
 * functions with the most self time and the share of each source file.
 *
 *   node bench/profile.ts [SECONDS] [OUT_DIR] [WARM_UP_SECONDS] [--modern] [--redis[=URL]]
 *       (defaults: 10 s profiled, a temporary directory, 10 s of warm-up)
 *
 * With --redis the gateway counts its rate limits in Redis (store.redis), as the redis section
 * measures: at the given URL, or in a redis-server started for the run (AOF, appendfsync always,
 * like the redis section's).
 *
 * With --modern the load is the modern section's stateless MCP 2026-07-28 tools/call (the
 * /modern route, pinned to 2026-07-28, same upstream) instead of a 2025 session's.
 *
 * The warm-up is the http section's: the gateway's first seconds of load cost about twice its
 * steady state while the JIT settles, and are not what a running gateway spends. The
 * .cpuprofile file is kept (open it in Chrome DevTools → Performance, or speedscope).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type RedisProcess, startRedis } from '../test/store/redis-harness.ts';
import { startChild } from './lib/child.ts';
import { AUDIENCE, benchCredentials, ISSUER, openSession, postHeaders } from './lib/gateway.ts';
import { runLoad } from './lib/load.ts';
import { MODERN_META } from './modern.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
}

const modern = process.argv.includes('--modern');
const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const seconds = Number(positional[0] ?? 10);
const dir = positional[1] ?? mkdtempSync(join(tmpdir(), 'portcullis-profile-'));
mkdirSync(dir, { recursive: true });
const warmUpSeconds = Number(positional[2] ?? 10);
const redisArg = process.argv.find((arg) => arg === '--redis' || arg.startsWith('--redis='));
const ownRedis: RedisProcess | undefined =
  redisArg === '--redis' ? await startRedis({ aof: true }) : undefined;
const redis = ownRedis === undefined ? redisArg?.slice('--redis='.length) : ownRedis.url;
const { jwks, token } = await benchCredentials();
const upstream = await startChild('upstream', 'bench/servers/echo-upstream.ts', [], { cores: '0' });
const gateway = await startChild(
  'portcullis',
  'bench/servers/portcullis.ts',
  [
    String(upstream.port),
    jwks,
    ISSUER,
    AUDIENCE,
    JSON.stringify({ modern, profileHook: true, ...(redis === undefined ? {} : { redis }) }),
  ],
  { cores: '0' },
);
const hook = `http://127.0.0.1:${gateway.hookPort}/bench/profile`;
const url = `http://127.0.0.1:${gateway.port}${modern ? '/modern' : '/mcp'}`;
const headers = modern
  ? {
      ...postHeaders(token),
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
    }
  : { ...postHeaders(token), ...(await openSession(url, postHeaders(token))) };
const body = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'echo',
    arguments: { text: 'hello' },
    ...(modern ? { _meta: MODERN_META } : {}),
  },
});
const warm = await runLoad({
  url,
  headers,
  body,
  seconds: warmUpSeconds,
  connections: 32,
  cores: '1',
});
await fetch(`${hook}/start`, { method: 'POST' });
const cpuBefore = gateway.cpuSeconds();
const load = await runLoad({ url, headers, body, seconds, connections: 32, cores: '1' });
const cpu = gateway.cpuSeconds() - cpuBefore;
const profileText = await (await fetch(`${hook}/stop`, { method: 'POST' })).text();
await gateway.stop();
await upstream.stop();
await ownRedis?.remove();

const file = `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`;
writeFileSync(join(dir, file), profileText);
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
console.log(
  `warm-up: ${warm.total} requests in ${warmUpSeconds} s (${warm.requestsPerSecond.toFixed(0)}/s), not profiled`,
);
const self = new Map<number, number>();
for (const sample of profile.samples) self.set(sample, (self.get(sample) ?? 0) + 1);
// Shares of the time the gateway was not idle: busy samples.
const idleIds = new Set(
  profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id),
);
const total = profile.samples.filter((sample) => !idleIds.has(sample)).length;
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
const byPart = new Map<string, number>();
const root = process.cwd();
for (const node of profile.nodes) {
  const count = self.get(node.id) ?? 0;
  if (count === 0 || idleIds.has(node.id)) continue;
  const { functionName, url: source, lineNumber } = node.callFrame;
  const where = source === '' ? '(native)' : relative(root, source.replace(/^file:\/\//, ''));
  const name = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + count);
  byFile.set(where, (byFile.get(where) ?? 0) + count);
  const part = partOf(functionName, source);
  byPart.set(part, (byPart.get(part) ?? 0) + count);
}

/** A coarse owner for a sample: our layer, a dependency, a Node subsystem, or the VM itself. */
function partOf(functionName: string, source: string): string {
  const ours = /\/src\/([^/]+)\//.exec(source);
  if (ours && !source.includes('node_modules')) return `src/${ours[1]}`;
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source);
  if (dependency) return `dependency: ${dependency[1]}`;
  if (source.startsWith('node:')) {
    if (/^node:(_http|http)/.test(source)) return 'node: http';
    if (/^node:(internal\/streams|stream|net|internal\/stream_base)/.test(source))
      return 'node: streams and sockets';
    return 'node: other';
  }
  if (source === '') {
    if (/^(writev|writeBuffer|writeString|writeUtf8String|writeLatin1String)$/.test(functionName))
      return 'syscalls: writes (sockets, audit file)';
    if (functionName === '(garbage collector)') return 'V8: garbage collector';
    if (functionName === '(program)') return 'V8: compiler and runtime';
    return `native: ${functionName || '(anonymous)'}`;
  }
  if (source.startsWith('wasm')) return 'dependency: undici (llhttp, wasm)';
  return source;
}
const top = (map: Map<string, number>, n: number) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, count]) => `${((count / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
console.log(
  `${load.total} requests in ${seconds} s (${load.requestsPerSecond.toFixed(0)}/s, ${load.non2xx} non-2xx), ` +
    `gateway CPU ${((cpu * 1e6) / Math.max(1, load.total)).toFixed(0)} µs/request; profile ${join(dir, file)}`,
);
console.log('\nShare of the busy time (not idle), by part:');
console.log(top(byPart, 25).join('\n'));
console.log('\nSelf time by function:');
console.log(top(byFunction, 40).join('\n'));
console.log('\nSelf time by file:');
console.log(top(byFile, 30).join('\n'));
