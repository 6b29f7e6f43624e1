/**
 * The MCP 2026-07-28 path beside the 2025 path, in one run, through one gateway (JWT
 * verification, per-tool policy, rate limiting and audit on), on the same upstreams:
 *   legacy-http    a 2025 client's tools/call inside its session, to the HTTP echo upstream
 *   modern-http    a stateless 2026-07-28 tools/call to the same upstream (route pinned)
 *   legacy-stdio   a 2025 client's tools/call inside its session, to a stdio echo server
 *   modern-stdio   a stateless 2026-07-28 tools/call to the same stdio server, bridged onto the
 *                  2025 session the gateway holds for the subject
 * Each target is warmed up for 1 s first (unmeasured); targets alternate within each round, in
 * reverse order on odd rounds; medians are reported, every round kept in the results. The bars: modern-http at least 0.95×
 * legacy-http in requests/s; modern-stdio at most 1.2× legacy-stdio in gateway CPU per request.
 */
import { fileURLToPath } from 'node:url';
import { startChild } from './lib/child.ts';
import {
  AUDIENCE,
  benchCredentials,
  ISSUER,
  median,
  openSession,
  postHeaders,
} from './lib/gateway.ts';
import { type LoadResult, runLoad } from './lib/load.ts';

export interface ModernBenchOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly connections: number;
}

export interface ModernTargetFigures {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time of the gateway process per request: steadier than req/s on a shared machine. */
  readonly cpuMicrosPerRequest: number;
  /** CPU time of the upstream process per request (it shares the gateway's core). */
  readonly upstreamCpuMicrosPerRequest: number;
  readonly errors: number;
  readonly non2xx: number;
  /** Every round's figures, so a median can be checked against its spread. */
  readonly rounds: readonly {
    readonly requestsPerSecond: number;
    readonly cpuMicrosPerRequest: number;
    readonly upstreamCpuMicrosPerRequest: number;
  }[];
}

export interface ModernBenchResult {
  readonly settings: ModernBenchOptions;
  readonly targets: Readonly<Record<string, ModernTargetFigures>>;
  readonly ratios: {
    /** modern-http / legacy-http requests/s (bar: ≥ 0.95). */
    readonly modernHttpThroughput: number;
    /** modern-stdio / legacy-stdio gateway CPU per request (bar: ≤ 1.2). */
    readonly bridgedStdioCpu: number;
    /**
     * modern-http / legacy-http gateway CPU per request (no bar): steadier than requests/s on a
     * shared machine, so it tells whether a throughput ratio off the bar is the path or the load.
     */
    readonly modernHttpCpu: number;
    /**
     * The median of each round's modern-http / legacy-http requests/s (no bar): the two run
     * seconds apart within a round, so this pairs them under the same outside load.
     */
    readonly modernHttpThroughputPaired: number;
  };
}

const SERVER_CORES = '0';
const LOAD_CORES = '1';
const STDIO_ECHO = fileURLToPath(new URL('./servers/stdio-echo.ts', import.meta.url));
/** The per-request envelope of a 2026-07-28 request (basic/index "_meta"). */
export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
};

export async function benchModern(options: ModernBenchOptions): Promise<ModernBenchResult> {
  const { jwks, token } = await benchCredentials();
  const upstream = await startChild('upstream', 'bench/servers/echo-upstream.ts', [], {
    cores: SERVER_CORES,
  });
  const gateway = await startChild(
    'portcullis',
    'bench/servers/portcullis.ts',
    [
      String(upstream.port),
      jwks,
      ISSUER,
      AUDIENCE,
      JSON.stringify({
        modern: true,
        stdio: { command: process.execPath, args: ['--no-warnings', STDIO_ECHO] },
      }),
    ],
    { cores: SERVER_CORES },
  );
  const base = `http://127.0.0.1:${gateway.port}`;
  const headers = postHeaders(token);
  const legacyBody = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'hello' } },
  });
  const modernBody = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'hello' }, _meta: MODERN_META },
  });
  const modernHeaders = {
    ...headers,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': 'echo',
  };
  const targets: {
    name: string;
    url: string;
    headers: Record<string, string>;
    body: string;
    connections?: number;
  }[] = [
    {
      name: 'legacy-http',
      url: `${base}/mcp`,
      headers: { ...headers, ...(await openSession(`${base}/mcp`, headers)) },
      body: legacyBody,
    },
    { name: 'modern-http', url: `${base}/modern`, headers: modernHeaders, body: modernBody },
    // One connection on stdio: a 2025 session refuses a second request with an id in flight, and
    // the load repeats one body.
    {
      name: 'legacy-stdio',
      url: `${base}/stdio`,
      headers: { ...headers, ...(await openSession(`${base}/stdio`, headers)) },
      body: legacyBody,
      connections: 1,
    },
    {
      name: 'modern-stdio',
      url: `${base}/stdio`,
      headers: modernHeaders,
      body: modernBody,
      connections: 1,
    },
  ];
  const figures = new Map<
    string,
    { load: LoadResult; cpuMicros: number; upstreamCpuMicros: number }[]
  >(targets.map((target) => [target.name, []]));
  try {
    // Every target once, unmeasured, before the rounds: the first measured round must not pay
    // for JIT warm-up on whichever target comes first.
    for (const target of targets) {
      const warm = await runLoad({
        url: target.url,
        headers: target.headers,
        body: target.body,
        seconds: 1,
        connections: target.connections ?? options.connections,
        cores: LOAD_CORES,
      });
      if (warm.non2xx > 0 || warm.errors > 0) {
        throw new Error(
          `${target.name}: warm-up saw ${warm.non2xx} non-2xx and ${warm.errors} errors`,
        );
      }
    }
    for (let round = 0; round < options.rounds; round += 1) {
      // Odd rounds run the targets in reverse (A B C D, D C B A, …): what one target leaves
      // behind (garbage to collect, a cooling JIT) falls on its neighbours in both directions,
      // not always on the same one.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const cpuBefore = gateway.cpuSeconds();
        const upstreamCpuBefore = upstream.cpuSeconds();
        const load = await runLoad({
          url: target.url,
          headers: target.headers,
          body: target.body,
          seconds: options.seconds,
          connections: target.connections ?? options.connections,
          cores: LOAD_CORES,
        });
        const perRequest = (seconds: number) =>
          load.total === 0 ? 0 : (seconds * 1e6) / load.total;
        figures.get(target.name)?.push({
          load,
          cpuMicros: perRequest(gateway.cpuSeconds() - cpuBefore),
          upstreamCpuMicros: perRequest(upstream.cpuSeconds() - upstreamCpuBefore),
        });
      }
    }
  } finally {
    await gateway.stop();
    await upstream.stop();
  }
  const summary: Record<string, ModernTargetFigures> = {};
  for (const [name, rounds] of figures) {
    summary[name] = {
      requestsPerSecond: Math.round(median(rounds.map((r) => r.load.requestsPerSecond))),
      p50Ms: median(rounds.map((r) => r.load.p50Ms)),
      p99Ms: median(rounds.map((r) => r.load.p99Ms)),
      cpuMicrosPerRequest: Math.round(median(rounds.map((r) => r.cpuMicros))),
      upstreamCpuMicrosPerRequest: Math.round(median(rounds.map((r) => r.upstreamCpuMicros))),
      errors: rounds.reduce((sum, r) => sum + r.load.errors, 0),
      non2xx: rounds.reduce((sum, r) => sum + r.load.non2xx, 0),
      rounds: rounds.map((r) => ({
        requestsPerSecond: Math.round(r.load.requestsPerSecond),
        cpuMicrosPerRequest: Math.round(r.cpuMicros),
        upstreamCpuMicrosPerRequest: Math.round(r.upstreamCpuMicros),
      })),
    };
  }
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? Number.NaN : Math.round((a / b) * 100) / 100;
  return {
    settings: options,
    targets: summary,
    ratios: {
      modernHttpThroughput: ratio(
        summary['modern-http']?.requestsPerSecond,
        summary['legacy-http']?.requestsPerSecond,
      ),
      bridgedStdioCpu: ratio(
        summary['modern-stdio']?.cpuMicrosPerRequest,
        summary['legacy-stdio']?.cpuMicrosPerRequest,
      ),
      modernHttpCpu: ratio(
        summary['modern-http']?.cpuMicrosPerRequest,
        summary['legacy-http']?.cpuMicrosPerRequest,
      ),
      modernHttpThroughputPaired: pairedRatio(
        figures.get('modern-http') ?? [],
        figures.get('legacy-http') ?? [],
      ),
    },
  };
}

/** The median of per-round ratios of requests/s (rounds paired by index). */
function pairedRatio(
  numerator: readonly { load: LoadResult }[],
  denominator: readonly { load: LoadResult }[],
): number {
  const ratios = numerator.flatMap((round, index) => {
    const base = denominator[index]?.load.requestsPerSecond ?? 0;
    return base === 0 ? [] : [round.load.requestsPerSecond / base];
  });
  return ratios.length === 0 ? Number.NaN : Math.round(median(ratios) * 100) / 100;
}

export function modernMarkdown(result: ModernBenchResult): string {
  const ms = (value: number) => value.toFixed(2);
  const rows = Object.entries(result.targets).map(
    ([name, t]) =>
      `| ${name} | ${t.requestsPerSecond} | ${ms(t.p50Ms)} | ${ms(t.p99Ms)} | ${t.cpuMicrosPerRequest} | ${name.endsWith('-stdio') ? 'n/a' : t.upstreamCpuMicrosPerRequest} | ${t.errors + t.non2xx} |`,
  );
  const { modernHttpThroughput, bridgedStdioCpu, modernHttpCpu, modernHttpThroughputPaired } =
    result.ratios;
  const verdict = (met: boolean) => (met ? 'met' : 'not met');
  return [
    '## MCP 2026-07-28 path beside the 2025 path (same gateway, same upstreams)',
    '',
    `${result.settings.connections} connections on HTTP, 1 on stdio, ${result.settings.seconds} s × ${result.settings.rounds} rounds, medians. Upstream CPU is the HTTP echo server's; the stdio echo server (the gateway's child) is not measured.`,
    '',
    '| target | req/s | p50 ms | p99 ms | gateway CPU µs/req | upstream CPU µs/req | failed |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `Stateless modern tools/call vs 2025 session tools/call (HTTP upstream), requests/s: ${modernHttpThroughput} (bar ≥ 0.95: ${verdict(modernHttpThroughput >= 0.95)}); median of the per-round ratios: ${modernHttpThroughputPaired}; gateway CPU per request: ${modernHttpCpu}.`,
    `Modern client bridged to a stdio upstream vs a 2025 client on it, gateway CPU per request: ${bridgedStdioCpu} (bar ≤ 1.2: ${verdict(bridgedStdioCpu <= 1.2)}).`,
  ].join('\n');
}
