/**
 * The cost of starting a stdio session: for a stdio upstream the gateway starts one child process
 * per MCP session, so `initialize` waits for a process to start. Measured: the time from sending
 * initialize to the gateway until its whole answer has arrived (the child spawned by the gateway,
 * the message relayed, the answer filtered and sent back), against the baseline of spawning the
 * same server directly and doing initialize over its stdio, in the same run. The server is a
 * minimal stdio MCP echo (bench/servers/stdio-echo.ts). Gateway and baseline driver are pinned to
 * core 0, and so are their children; the HTTP client is the bench process itself. Sessions
 * alternate one by one (gateway, direct, gateway, direct…) so that drift and the load of a
 * shared machine fall on both alike; each session is ended (DELETE, or stdin closed) before the
 * next starts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { type BenchChild, processCpuSeconds, startChild } from './lib/child.ts';
import {
  AUDIENCE,
  benchCredentials,
  ISSUER,
  initializeBody,
  median,
  PROTOCOL_VERSION,
  percentile,
  postHeaders,
} from './lib/gateway.ts';
import { type Machine, machine } from './lib/machine.ts';

export interface StdioStartOptions {
  /** Sessions measured per side, alternating one by one (gateway, direct, gateway, direct…). */
  readonly sessions: number;
  /** Sessions per side before measuring, not counted. */
  readonly warmup: number;
}

export interface StartFigures {
  /** CPU time of the spawning process (the gateway, or the baseline driver) per session start; the child's own start-up is not in it. */
  readonly spawnerCpuMsPerSession: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly latenciesMs: readonly number[];
}

export interface StdioStartResult {
  readonly machine: Machine;
  readonly settings: StdioStartOptions;
  readonly gateway: StartFigures;
  readonly direct: StartFigures;
  /** Gateway median over direct median. */
  readonly medianRatio: number;
  /** Median of the ratios of each gateway session to the direct one right after it: drift cancels. */
  readonly pairedMedianRatio: number;
  /** What the gateway adds to a session start, medians. */
  readonly addedMedianMs: number;
}

const SERVER = fileURLToPath(new URL('./servers/stdio-echo.ts', import.meta.url));
const DIRECT = fileURLToPath(new URL('./lib/stdio-direct.ts', import.meta.url));
const TASKSET = '/usr/bin/taskset';
/** The stdio server as both sides start it. */
const COMMAND = { command: process.execPath, args: ['--no-warnings', SERVER] };

/** The baseline driver: a pinned process that starts one session per `run` line. */
function startDirect() {
  const nodeArgs = ['--no-warnings', DIRECT, JSON.stringify(COMMAND)];
  const child = existsSync(TASKSET)
    ? spawn(TASKSET, ['-c', '0', process.execPath, ...nodeArgs], {
        stdio: ['pipe', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
  const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    cpuSeconds: () => processCpuSeconds(child.pid ?? 0),
    async run(count: number): Promise<number[]> {
      const latencies: number[] = [];
      for (let index = 0; index < count; index++) {
        child.stdin.write('run\n');
        const next = await answers.next();
        if (next.done) throw new Error('the baseline driver exited');
        latencies.push(Number(next.value));
      }
      return latencies;
    },
    async stop(): Promise<void> {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}

async function throughGateway(pool: Pool, token: string, count: number): Promise<number[]> {
  const headers = postHeaders(token);
  const latencies: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    const answer = await pool.request({
      path: '/stdio',
      method: 'POST',
      headers,
      body: initializeBody(index),
    });
    const text = await answer.body.text();
    latencies.push(performance.now() - started);
    const session = answer.headers['mcp-session-id'];
    if (answer.statusCode !== 200 || typeof session !== 'string' || !text.includes('"result"'))
      throw new Error(`initialize through the gateway answered ${answer.statusCode}: ${text}`);
    const ended = await pool.request({
      path: '/stdio',
      method: 'DELETE',
      headers: {
        authorization: headers.authorization ?? '',
        'mcp-session-id': session,
        'mcp-protocol-version': PROTOCOL_VERSION,
      },
    });
    await ended.body.dump();
  }
  return latencies;
}

const figures = (latencies: number[], cpuSeconds: number): StartFigures => ({
  spawnerCpuMsPerSession: Number(((cpuSeconds * 1000) / Math.max(1, latencies.length)).toFixed(2)),
  medianMs: Number(median(latencies).toFixed(2)),
  p99Ms: Number(percentile(latencies, 99).toFixed(2)),
  minMs: Number(Math.min(...latencies).toFixed(2)),
  latenciesMs: latencies.map((value) => Number(value.toFixed(2))),
});

export async function benchStdioStart(options: StdioStartOptions): Promise<StdioStartResult> {
  const where = machine();
  const { jwks, token } = await benchCredentials();
  let gateway: BenchChild | undefined;
  let pool: Pool | undefined;
  const baseline = startDirect();
  try {
    gateway = await startChild(
      'portcullis',
      'bench/servers/portcullis.ts',
      ['0', jwks, ISSUER, AUDIENCE, JSON.stringify({ routes: 0, stdio: COMMAND, maxSessions: 8 })],
      { cores: '0' },
    );
    pool = new Pool(`http://127.0.0.1:${gateway.port}`, { connections: 1, pipelining: 1 });
    await throughGateway(pool, token, options.warmup);
    await baseline.run(options.warmup);
    const viaGateway: number[] = [];
    const viaDirect: number[] = [];
    const target = gateway;
    let gatewayCpu = 0;
    let directCpu = 0;
    for (let index = 0; index < options.sessions; index++) {
      const gatewayBefore = target.cpuSeconds();
      viaGateway.push(...(await throughGateway(pool, token, 1)));
      gatewayCpu += target.cpuSeconds() - gatewayBefore;
      const directBefore = baseline.cpuSeconds();
      viaDirect.push(...(await baseline.run(1)));
      directCpu += baseline.cpuSeconds() - directBefore;
    }
    const gatewayFigures = figures(viaGateway, gatewayCpu);
    const directFigures = figures(viaDirect, directCpu);
    const pairs = viaGateway.map((value, index) => value / (viaDirect[index] ?? value));
    return {
      machine: where,
      settings: options,
      gateway: gatewayFigures,
      direct: directFigures,
      medianRatio: Number((gatewayFigures.medianMs / directFigures.medianMs).toFixed(3)),
      pairedMedianRatio: Number(median(pairs).toFixed(3)),
      addedMedianMs: Number((gatewayFigures.medianMs - directFigures.medianMs).toFixed(2)),
    };
  } finally {
    await pool?.destroy();
    await Promise.all([gateway?.stop(), baseline.stop()]);
  }
}

/** The markdown section for bench/results/latest.md. */
export function stdioStartMarkdown(result: StdioStartResult): string {
  const { machine: m, settings, gateway, direct: baseline } = result;
  return [
    '## Starting a stdio session (`bench/stdio-start.ts`)',
    '',
    `${m.cores} cores, ${m.cpu}, Node ${m.node}, ${m.date.slice(0, 10)}, load average ${m.loadAverage.join(' / ')}; ${settings.sessions} sessions per side, alternating one by one, after ${settings.warmup} warm-up sessions; p99 is nearest-rank; gateway, baseline driver and their children pinned to core 0.`,
    '',
    '| initialize → answer | median ms | p99 ms | min ms | spawner CPU ms per session |',
    '| --- | --- | --- | --- | --- |',
    `| through the gateway (child spawned per session) | ${gateway.medianMs} | ${gateway.p99Ms} | ${gateway.minMs} | ${gateway.spawnerCpuMsPerSession} |`,
    `| baseline: spawn the server directly, initialize over stdio | ${baseline.medianMs} | ${baseline.p99Ms} | ${baseline.minMs} | ${baseline.spawnerCpuMsPerSession} |`,
    '',
    `Gateway over direct: ${result.medianRatio} (medians), ${result.pairedMedianRatio} (median of paired ratios); added by the gateway: ${result.addedMedianMs} ms (medians). Spawner CPU: the gateway's, or the baseline driver's, own CPU time per session (10 ms ticks summed over the run); the child's start-up is in neither.`,
  ].join('\n');
}
