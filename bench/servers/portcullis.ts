/**
 * Portcullis as a benchmark target, started by the assembler `serve` uses: JWT verification
 * against a JWKS (served here on loopback, under the development switch), per-tool policy,
 * rate limiting on (limits far above the load), audit on, and otherwise the defaults a user gets
 * (the log level included: JSON lines on standard error at info).
 *
 * Usage: portcullis.ts UPSTREAM_PORT JWKS_JSON ISSUER AUDIENCE [OPTIONS_JSON]. Prints
 * `READY <port>`. OPTIONS_JSON (all optional):
 *   routes          HTTP routes to the upstream: /mcp, /mcp-2, /mcp-3… (default 1; 0 for none)
 *   stdio           { command, args }: adds the stdio upstream route /stdio
 *   maxSessions     upstreams[].max_sessions (default: the product default)
 *   maxConnections  remote_mcp.max_connections (default 1024)
 *   dpop            upstreams[].dpop of the HTTP routes (off, allowed, required)
 *   audit           false: the same gateway without the audit trail, to measure the audit
 *                   overhead in the same run
 *   modern          true: adds /modern, the same HTTP upstream pinned to MCP 2026-07-28
 *   redis           a redis:// URL: store.redis, so the rate limits are counted in Redis (the
 *                   shared limiter of several replicas) instead of in memory
 *   memoryHook      serve GET /bench/memory (forces GC when node runs with --expose-gc, answers
 *                   process.memoryUsage()) and GET /bench/heap-snapshot on the JWKS server, and
 *                   print `HOOK <port>`. Bench-only: the hook lives in this script, not the product.
 *   profileHook     serve POST /bench/profile/start and POST /bench/profile/stop (answers the CPU
 *                   profile, Chrome's .cpuprofile JSON) on the JWKS server, and print
 *                   `HOOK <port>`: a profile of a chosen stretch of load, after a warm-up.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { stringify } from 'yaml';
import { startPortcullis } from '../../src/assembly/index.ts';
import { loadConfigFile } from '../../src/config/index.ts';

interface TargetOptions {
  readonly routes?: number;
  readonly stdio?: { readonly command: string; readonly args: readonly string[] };
  readonly maxSessions?: number;
  readonly maxConnections?: number;
  readonly memoryHook?: boolean;
  readonly profileHook?: boolean;
  readonly audit?: boolean;
  readonly modern?: boolean;
  readonly redis?: string;
  /** upstreams[].dpop of the HTTP routes (default off). */
  readonly dpop?: 'off' | 'allowed' | 'required';
}

const [upstreamPort = '0', jwksJson = '{}', issuer = '', audience = '', optionsJson = '{}'] =
  process.argv.slice(2);
const options = JSON.parse(optionsJson) as TargetOptions;
const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));

// The V8 profiler of this process, through the inspector protocol, when profileHook asks for it.
const profiler = options.profileHook ? new Session() : undefined;
profiler?.connect();

const jwks = createServer(async (request, response) => {
  if (
    profiler !== undefined &&
    request.method === 'POST' &&
    request.url === '/bench/profile/start'
  ) {
    await profiler.post('Profiler.enable');
    // Finer than the default (1 ms): a request costs about a tenth of that.
    await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
    await profiler.post('Profiler.start');
    response.writeHead(204).end();
    return;
  }
  if (
    profiler !== undefined &&
    request.method === 'POST' &&
    request.url === '/bench/profile/stop'
  ) {
    const { profile } = await profiler.post('Profiler.stop');
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(profile));
    return;
  }
  if (options.memoryHook && request.url === '/bench/memory') {
    // Two collections: the first may only schedule finalizers that free more on the second.
    globalThis.gc?.();
    globalThis.gc?.();
    response.writeHead(200, { 'content-type': 'application/json' });
    const spaces = Object.fromEntries(
      getHeapSpaceStatistics().map((space) => [
        space.space_name,
        { size: space.space_size, used: space.space_used_size },
      ]),
    );
    response.end(
      JSON.stringify({ ...process.memoryUsage(), spaces, gc: globalThis.gc !== undefined }),
    );
    return;
  }
  if (options.memoryHook && request.url === '/bench/heap-snapshot') {
    response.writeHead(200, { 'content-type': 'text/plain' }).end(writeHeapSnapshot(undefined));
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' }).end(jwksJson);
});
await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
const jwksPort = (jwks.address() as { port: number }).port;
if (options.memoryHook || options.profileHook) process.stdout.write(`HOOK ${jwksPort}\n`);

const port = await new Promise<number>((resolve) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address() as { port: number };
    probe.close(() => resolve(free));
  });
});

const limits = options.maxSessions === undefined ? {} : { max_sessions: options.maxSessions };
const httpRoutes = Array.from({ length: options.routes ?? 1 }, (_, index) => ({
  name: index === 0 ? 'echo' : `echo-${index + 1}`,
  path: index === 0 ? '/mcp' : `/mcp-${index + 1}`,
  url: `http://127.0.0.1:${upstreamPort}/mcp`,
  tool_scopes: { echo: 'bench:echo' },
  ...limits,
  ...(options.dpop === undefined ? {} : { dpop: options.dpop }),
}));
// The same upstream as a 2026-07-28 route: stateless requests forwarded as they come.
const modernRoutes = options.modern
  ? [
      {
        name: 'echo-modern',
        path: '/modern',
        url: `http://127.0.0.1:${upstreamPort}/mcp`,
        protocol: '2026-07-28',
        tool_scopes: { echo: 'bench:echo' },
        ...limits,
      },
    ]
  : [];
const stdioRoutes =
  options.stdio === undefined
    ? []
    : [
        {
          name: 'stdio-echo',
          path: '/stdio',
          command: options.stdio.command,
          args: [...options.stdio.args],
          tool_scopes: { echo: 'bench:echo' },
          ...limits,
        },
      ];

const config = join(dir, 'gateway.yaml');
writeFileSync(
  config,
  stringify({
    remote_mcp: {
      enabled: true,
      bind_address: `127.0.0.1:${port}`,
      issuer,
      jwks_url: `http://127.0.0.1:${jwksPort}/jwks.json`,
      audiences: [audience],
      allowed_scopes: ['bench:echo'],
      token_id_hmac_secret_env: 'BENCH_HMAC_SECRET',
      rate_limit_max_requests: 100_000_000,
      rate_limit_window_seconds: 60,
      max_connections: options.maxConnections ?? 1024,
    },
    safety: { remote_mcp_enabled: true },
    upstreams: [...httpRoutes, ...modernRoutes, ...stdioRoutes],
    audit: { path: join(dir, 'audit.jsonl') },
    ...(options.redis === undefined
      ? {}
      : { store: { redis: options.redis, redis_options: { key_prefix: `bench-${port}:` } } }),
    development: { allow_loopback_urls: true },
  }),
);

// The server as `serve` starts it (the same assembler), with the audit trail on or off.
process.env.BENCH_HMAC_SECRET = 'bench-token-id-secret-0123456789abcdef';
const loaded = loadConfigFile(config, { env: process.env });
const running = await startPortcullis(loaded, {
  cwd: dir,
  ...(options.audit === false ? { audit: false as const } : {}),
});
process.stdout.write(`READY ${running.port}\n`);
await new Promise((resolve) => {
  process.once('SIGTERM', resolve);
  process.once('SIGINT', resolve);
});
await running.close();
jwks.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
