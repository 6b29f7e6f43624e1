/**
 * The gateway against its baselines, side by side in one run, on the same upstream:
 *   direct   the upstream (a minimal JSON-RPC echo over HTTP)
 *   raw      a raw node:http proxy hop to it: the practical ceiling for a Node proxy
 *   sdk      the MCP SDK server with requireBearerAuth + jose (the incumbent library approach)
 *   portcullis  the gateway: JWT verification, per-tool policy, rate limiting and audit on
 *   portcullis-dpop  the same with a DPoP-bound token and a fresh proof per request (RFC 9449)
 *   fastmcp  FastMCP 4 (Python) as a proxy with its JWT verifier: a peer a user might pick
 *            instead; skipped, with the reason recorded, when it cannot be installed
 * Each target: requests/s, p50/p99 at fixed concurrency; p50/p99 at a fixed rate; CPU seconds.
 * Rounds alternate targets (A, B, A, B…) so drift shows; medians are reported.
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { type BenchChild, startChild } from './lib/child.ts';
import { FASTMCP_REQUIREMENT, FASTMCP_SCRIPT, prepareFastMcp } from './lib/fastmcp.ts';
import {
  AUDIENCE,
  benchCredentials,
  dpopProof,
  ISSUER,
  median,
  openSession,
  postHeaders,
} from './lib/gateway.ts';
import { type LoadResult, runLoad } from './lib/load.ts';

export interface TargetFigures {
  readonly rounds: readonly {
    readonly closed: LoadResult;
    readonly fixedRate: LoadResult;
    readonly cpuSeconds: number;
  }[];
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly fixedRateP50Ms: number;
  readonly fixedRateP99Ms: number;
  readonly cpuSecondsPerRound: number;
  /** CPU time of the target's process per request at fixed concurrency: steadier than req/s on a shared machine. */
  readonly cpuMicrosPerRequest: number;
}

export interface HttpBenchOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly rate: number;
}

const SERVER_CORES = '0';
const LOAD_CORES = '1';

interface Target {
  readonly name: string;
  readonly child: BenchChild;
  readonly path: string;
  /** Per-target headers, e.g. the MCP session the gateway opened for the load. */
  headers?: Record<string, string>;
  /** Presents the DPoP-bound token with a fresh proof per request. */
  readonly dpop?: boolean;
}

export interface HttpBenchResult {
  readonly machine: {
    readonly cores: number;
    readonly cpu: string;
    readonly node: string;
    readonly date: string;
  };
  readonly settings: HttpBenchOptions;
  readonly targets: Readonly<Record<string, TargetFigures>>;
  readonly ratios: Readonly<Record<string, number | null>>;
  /** Peers measured beside the gateway, or why one was not. */
  readonly peers: Readonly<Record<string, { version: string } | { skipped: string }>>;
}

export async function benchHttp(options: HttpBenchOptions): Promise<HttpBenchResult> {
  const { jwks, token, dpopToken, dpopKey } = await benchCredentials();

  const upstream = await startChild('upstream', 'bench/servers/echo-upstream.ts', [], {
    cores: SERVER_CORES,
  });
  const fastmcp = await prepareFastMcp();
  console.error(
    fastmcp.available
      ? `bench: FastMCP ${fastmcp.version} installed; measuring it as a peer`
      : `bench: skipping the FastMCP peer: ${fastmcp.reason}`,
  );
  // FastMCP's verifier fetches the key set over HTTP: served here, on loopback.
  const jwksServer = fastmcp.available ? await serveJwks(jwks) : undefined;
  const targets: Target[] = [
    { name: 'direct', child: upstream, path: '/mcp' },
    {
      name: 'raw',
      child: await startChild('raw', 'bench/servers/raw-proxy.ts', [String(upstream.port)], {
        cores: SERVER_CORES,
      }),
      path: '/mcp',
    },
    {
      name: 'portcullis',
      child: await startChild(
        'portcullis',
        'bench/servers/portcullis.ts',
        [String(upstream.port), jwks, ISSUER, AUDIENCE],
        { cores: SERVER_CORES },
      ),
      path: '/mcp',
    },
    {
      // The same gateway without the audit trail: the audit overhead, measured in the same run.
      name: 'portcullis-noaudit',
      child: await startChild(
        'portcullis-noaudit',
        'bench/servers/portcullis.ts',
        [String(upstream.port), jwks, ISSUER, AUDIENCE, JSON.stringify({ audit: false })],
        { cores: SERVER_CORES },
      ),
      path: '/mcp',
    },
    {
      // The gateway with DPoP on the route, driven with a bound token and per-request proofs.
      name: 'portcullis-dpop',
      child: await startChild(
        'portcullis-dpop',
        'bench/servers/portcullis.ts',
        [String(upstream.port), jwks, ISSUER, AUDIENCE, JSON.stringify({ dpop: 'allowed' })],
        { cores: SERVER_CORES },
      ),
      path: '/mcp',
      dpop: true,
    },
    {
      name: 'sdk',
      child: await startChild('sdk', 'bench/servers/sdk-bearer.ts', [jwks, ISSUER, AUDIENCE], {
        cores: SERVER_CORES,
      }),
      path: '/mcp',
    },
  ];
  if (fastmcp.available && jwksServer !== undefined) {
    targets.push({
      name: 'fastmcp',
      child: await startChild(
        'fastmcp',
        FASTMCP_SCRIPT,
        [
          String(upstream.port),
          `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`,
          ISSUER,
          AUDIENCE,
          String(await freePort()),
        ],
        { cores: SERVER_CORES, executable: fastmcp.python },
      ),
      path: '/mcp',
    });
  }
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'hello' } },
  });
  const headers = postHeaders(token);
  const dpopLoad = { ...dpopKey, token: dpopToken };
  const proofKey = {
    privateKey: createPrivateKey({ key: dpopKey.privateJwk, format: 'jwk' }),
    publicJwk: dpopKey.publicJwk,
  };
  /** The headers opening a session on a target: Bearer, or DPoP with a proof for that URL. */
  const openingHeaders = (target: Target, url: string): Record<string, string> =>
    target.dpop
      ? {
          ...headers,
          authorization: `DPoP ${dpopToken}`,
          dpop: dpopProof(proofKey, { method: 'POST', url, token: dpopToken }, randomUUID()),
        }
      : headers;
  const rounds = new Map<string, TargetFigures['rounds'][number][]>(
    targets.map((t) => [t.name, []]),
  );
  // A peer that fails under the load is dropped and the reason recorded; our targets failing
  // fails the section.
  let peerFailure: string | undefined;
  const measured = async <T>(target: Target, run: () => Promise<T>): Promise<T | undefined> => {
    if (target.name !== 'fastmcp') return run();
    try {
      return await run();
    } catch (error) {
      const killed = (error as { killed?: boolean }).killed === true;
      peerFailure = killed
        ? `failed under the load: its answers did not complete and the load generator was stopped at its time limit (${options.connections} connections on one MCP session)`
        : `failed under the load: ${String((error as Error).message)
            .split('\n')[0]
            ?.slice(0, 200)}`;
      console.error(`bench: dropping the FastMCP peer: ${peerFailure}`);
      targets.splice(targets.indexOf(target), 1);
      rounds.delete(target.name);
      await target.child.stop();
      return undefined;
    }
  };
  try {
    for (const target of [...targets]) {
      if (target.name.startsWith('portcullis') || target.name === 'fastmcp') {
        const url = `http://127.0.0.1:${target.child.port}${target.path}`;
        const opened = await measured(target, () => openSession(url, openingHeaders(target, url)));
        if (opened !== undefined) target.headers = opened;
      }
    }
    for (const target of [...targets]) {
      const url = `http://127.0.0.1:${target.child.port}${target.path}`;
      // A warm-up of two rounds' length, for every target alike: a steady state is measured,
      // not the JIT compiling (the gateway, with far more code on its path than the raw hop,
      // takes about ten seconds of load to settle: measured 200 to 400 µs per request in its
      // first 2 s, about 100 from the eighth second on). The rounds alternate after every
      // target's warm-up.
      await measured(target, async () => {
        const warm = await runLoad({
          url,
          headers: { ...headers, ...target.headers },
          ...(target.dpop ? { dpop: dpopLoad } : {}),
          body,
          seconds: 2 * options.seconds,
          connections: options.connections,
          cores: LOAD_CORES,
        });
        if (warm.non2xx > 0 || warm.errors > 0)
          throw new Error(
            `${target.name}: warm-up saw ${warm.non2xx} non-2xx and ${warm.errors} errors`,
          );
      });
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const target of [...targets]) {
        const url = `http://127.0.0.1:${target.child.port}${target.path}`;
        await measured(target, async () => {
          const cpuBefore = target.child.cpuSeconds();
          const closed = await runLoad({
            url,
            headers: { ...headers, ...target.headers },
            ...(target.dpop ? { dpop: dpopLoad } : {}),
            body,
            seconds: options.seconds,
            connections: options.connections,
            cores: LOAD_CORES,
          });
          const cpuSeconds = target.child.cpuSeconds() - cpuBefore;
          const fixedRate = await runLoad({
            url,
            headers: { ...headers, ...target.headers },
            ...(target.dpop ? { dpop: dpopLoad } : {}),
            body,
            seconds: options.seconds,
            connections: options.connections,
            rate: options.rate,
            cores: LOAD_CORES,
          });
          rounds.get(target.name)?.push({ closed, fixedRate, cpuSeconds });
        });
      }
    }
  } finally {
    await Promise.all(targets.map((t) => t.child.stop()));
    jwksServer?.close();
  }
  const figures: Record<string, TargetFigures> = {};
  for (const [name, list] of rounds) {
    figures[name] = {
      rounds: list,
      requestsPerSecond: median(list.map((r) => r.closed.requestsPerSecond)),
      p50Ms: median(list.map((r) => r.closed.p50Ms)),
      p99Ms: median(list.map((r) => r.closed.p99Ms)),
      fixedRateP50Ms: median(list.map((r) => r.fixedRate.p50Ms)),
      fixedRateP99Ms: median(list.map((r) => r.fixedRate.p99Ms)),
      cpuSecondsPerRound: median(list.map((r) => r.cpuSeconds)),
      cpuMicrosPerRequest: median(
        list.map((r) => (r.cpuSeconds * 1e6) / Math.max(1, r.closed.total)),
      ),
    };
  }
  const ratio = (a: string, b: string) => {
    const x = figures[a]?.requestsPerSecond;
    const y = figures[b]?.requestsPerSecond;
    return x && y ? Number((x / y).toFixed(3)) : null;
  };
  const cpuRatio = (a: string, b: string) => {
    const x = figures[a]?.cpuMicrosPerRequest;
    const y = figures[b]?.cpuMicrosPerRequest;
    return x && y ? Number((x / y).toFixed(3)) : null;
  };
  return {
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      date: new Date().toISOString(),
    },
    settings: options,
    targets: figures,
    ratios: {
      cpu_per_request_portcullis_over_raw: cpuRatio('portcullis', 'raw'),
      cpu_per_request_audit_on_over_off: cpuRatio('portcullis', 'portcullis-noaudit'),
      // RFC 9449 proofs checked on every request, against plain bearer (goal ≤ 1.15).
      cpu_per_request_dpop_over_bearer: cpuRatio('portcullis-dpop', 'portcullis'),
      throughput_audit_on_over_off: ratio('portcullis', 'portcullis-noaudit'),
      added_p50_ms_at_fixed_rate:
        figures.portcullis && figures.direct
          ? Number((figures.portcullis.fixedRateP50Ms - figures.direct.fixedRateP50Ms).toFixed(3))
          : null,
      added_p99_ms_at_fixed_rate:
        figures.portcullis && figures.direct
          ? Number((figures.portcullis.fixedRateP99Ms - figures.direct.fixedRateP99Ms).toFixed(3))
          : null,
      raw_over_sdk: ratio('raw', 'sdk'),
      raw_over_direct: ratio('raw', 'direct'),
      portcullis_over_raw: ratio('portcullis', 'raw'),
      portcullis_over_sdk: ratio('portcullis', 'sdk'),
      portcullis_over_fastmcp: ratio('portcullis', 'fastmcp'),
      cpu_per_request_portcullis_over_fastmcp: cpuRatio('portcullis', 'fastmcp'),
    },
    peers: {
      fastmcp: !fastmcp.available
        ? { skipped: `${FASTMCP_REQUIREMENT}: ${fastmcp.reason}` }
        : peerFailure !== undefined
          ? { skipped: `FastMCP ${fastmcp.version} ${peerFailure}` }
          : { version: fastmcp.version },
    },
  };
}

async function serveJwks(jwks: string): Promise<Server> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The markdown section for bench/results/latest.md. */
export function httpMarkdown(result: HttpBenchResult): string {
  const fmt = (value: number, digits = 3) => value.toFixed(digits);
  const { machine, settings } = result;
  return [
    '## HTTP: the gateway against its baselines',
    '',
    `${machine.cores} cores, ${machine.cpu}, Node ${machine.node}, ${machine.date.slice(0, 10)}; server and upstream pinned to core 0, load generator to core 1; median of ${settings.rounds} alternating rounds of ${settings.seconds} s.`,
    '',
    `| target | req/s (${settings.connections} conns) | p50 ms | p99 ms | p50 ms @ ${settings.rate}/s | p99 ms @ ${settings.rate}/s | CPU s per run | CPU µs per request |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...Object.entries(result.targets).map(
      ([name, t]) =>
        `| ${name} | ${fmt(t.requestsPerSecond, 0)} | ${fmt(t.p50Ms)} | ${fmt(t.p99Ms)} | ${fmt(t.fixedRateP50Ms)} | ${fmt(t.fixedRateP99Ms)} | ${fmt(t.cpuSecondsPerRound)} | ${fmt(t.cpuMicrosPerRequest, 0)} |`,
    ),
    '',
    `Ratios: ${Object.entries(result.ratios)
      .map(([name, value]) => `${name} ${value ?? 'n/a'}`)
      .join(', ')}.`,
    '',
    ...goalLines(result.ratios),
    '',
    ...Object.entries(result.peers ?? {}).map(([name, peer]) =>
      'version' in peer
        ? `Peer ${name}: ${peer.version}, measured above in the same run.`
        : `Peer ${name}: not measured: ${peer.skipped}.`,
    ),
  ].join('\n');
}

/** The section's goals, judged on this run's ratios (bench/README.md, Goals). */
function goalLines(ratios: HttpBenchResult['ratios']): string[] {
  const judged = (value: number | null | undefined, met: (v: number) => boolean) =>
    value === null || value === undefined ? 'not measured' : met(value) ? 'met' : 'not met';
  const throughput = ratios.portcullis_over_raw;
  const cpu = ratios.cpu_per_request_portcullis_over_raw;
  const addedP50 = ratios.added_p50_ms_at_fixed_rate;
  return [
    `Goals: portcullis ≥ 0.75× the raw hop's requests/s (${throughput ?? 'n/a'}) — ${judged(throughput, (v) => v >= 0.75)}; CPU µs per request ≤ 1.35× the raw hop's (${cpu ?? 'n/a'}) — ${judged(cpu, (v) => v <= 1.35)}. Added p50 latency at the fixed rate (portcullis minus direct): ${addedP50 ?? 'n/a'} ms.`,
  ];
}
