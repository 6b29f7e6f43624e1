/**
 * Memory the gateway holds per idle MCP session and per open SSE stream, on a Streamable HTTP
 * upstream (the echo upstream, which keeps GET streams open and quiet).
 *
 * The gateway runs pinned to core 0 with --expose-gc; its bench-only hook (bench/servers/
 * portcullis.ts) forces two collections and reports process.memoryUsage(), and VmRSS is read
 * from /proc. Sessions are opened the way a client opens them (initialize, then the
 * notifications/initialized notification) and then left idle; samples are taken at checkpoints
 * and the cost per session is the least-squares slope over them, so a one-off allocation (a
 * code path compiled, a pool connection opened) does not count as per-session cost. A warm-up
 * that is never counted comes first, and a control in the same run (the same requests, nothing
 * kept) shows that what remains is retention. Streams are then opened, one GET per session, and
 * held open; the same slope gives the cost per stream.
 *
 * Two views of each item: retained (V8 heap used + external after GC: the objects the item keeps
 * alive) and RSS. RSS moves in steps of whole heap pages and V8 reuses free committed pages
 * first, so per item it can read below what is retained (or, while V8 grows its heap, far
 * above); the goal is judged on the larger of the two.
 */
import { Pool } from 'undici';
import { type BenchChild, startChild } from './lib/child.ts';
import {
  AUDIENCE,
  benchCredentials,
  INITIALIZED_NOTIFICATION,
  ISSUER,
  initializeBody,
  PROTOCOL_VERSION,
  postHeaders,
  slope,
} from './lib/gateway.ts';
import { type Machine, machine } from './lib/machine.ts';

export interface SessionsBenchOptions {
  /** Idle sessions opened and measured. */
  readonly sessions: number;
  /** SSE streams held open (at most one per session). */
  readonly streams: number;
  /**
   * Gateway routes to the same upstream, sessions spread evenly over them. One HTTP upstream's
   * connection pool holds at most 256 requests at a time, and each open stream is one of them
   * (see `singleUpstreamProbe`), so 1,000 streams need at least four routes.
   */
  readonly routes: number;
  /** Samples taken while opening sessions (and again while opening streams). */
  readonly checkpoints: number;
  readonly warmupSessions: number;
  /**
   * Requests (tools/call on a warm-up session) sent before the first sample, so that code is
   * compiled and pools and caches are filled before anything is counted.
   */
  readonly warmupRequests: number;
  /** Parallel requests while opening sessions and streams. */
  readonly concurrency: number;
}

export interface MemorySample {
  readonly count: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Memory of C++ objects bound to JS (external includes arrayBuffers). */
  readonly externalBytes: number;
}

export interface PerItem {
  readonly samples: readonly MemorySample[];
  readonly rssBytesPerItem: number;
  readonly heapBytesPerItem: number;
  readonly externalBytesPerItem: number;
  /** V8 heap used + external per item: what each item keeps alive. */
  readonly retainedBytesPerItem: number;
  readonly seconds: number;
}

export interface SessionsBenchResult {
  readonly machine: Machine;
  readonly settings: SessionsBenchOptions;
  readonly gcForced: boolean;
  readonly idleSession: PerItem & {
    readonly goalBytes: number;
    /** The larger of retained and RSS per session within the goal. */
    readonly goalMet: boolean;
  };
  /**
   * The control, in the same run: as many requests as opening the sessions took (two per
   * session), on one existing session, so that nothing new is kept. Per item = per two requests;
   * near zero when the per-session figures are retention and not heap growth.
   */
  readonly control: PerItem;
  readonly sseStream: PerItem;
  readonly singleUpstreamProbe: {
    readonly streamsAlreadyOpen: number;
    readonly extraStreamsAsked: number;
    readonly extraStreamsOpened: number;
    readonly timeoutMs: number;
    readonly postTimeoutMs: number;
    /** A tools/call on the same upstream while its pool is full of streams, or null if unanswered. */
    readonly postAnsweredInMs: number | null;
  };
}

const GOAL_BYTES = 64 * 1024;
/**
 * The young generation held at one size (MB per semi-space) in the measured process, so that
 * V8 growing it under request traffic (up to 128 MB of new space on this machine) does not show
 * as per-item RSS, nor a reserve grown during the warm-up hide per-item RSS. Live objects, what
 * is measured, do not depend on it. Bench-only flags, not a product setting.
 */
const YOUNG_GENERATION = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
/** The probe's streams wait this long for their headers; its POST starts a second in and waits less. */
const PROBE_TIMEOUT_MS = 3000;
const PROBE_POST_DELAY_MS = 1000;
const PROBE_POST_TIMEOUT_MS = 1500;
/** Streams the probe asks one upstream to hold in all: past its pool's 256 connections. */
const PROBE_TOTAL_STREAMS = 272;

const TOOL_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hello' } },
});

const routePath = (index: number) => (index === 0 ? '/mcp' : `/mcp-${index + 1}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `task` for 0…count-1, `concurrency` at a time. */
async function inParallel(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

interface Session {
  readonly id: string;
  readonly path: string;
}

export async function benchSessions(options: SessionsBenchOptions): Promise<SessionsBenchResult> {
  const where = machine();
  const { jwks, token } = await benchCredentials();
  const headers = postHeaders(token);
  const upstream = await startChild('upstream', 'bench/servers/echo-upstream.ts', [], {
    cores: '0',
  });
  let gateway: BenchChild | undefined;
  const pools: Pool[] = [];
  try {
    gateway = await startChild(
      'portcullis',
      'bench/servers/portcullis.ts',
      [
        String(upstream.port),
        jwks,
        ISSUER,
        AUDIENCE,
        JSON.stringify({
          routes: options.routes,
          maxSessions: options.sessions + options.warmupSessions + 64,
          maxConnections: options.streams + PROBE_TOTAL_STREAMS + options.concurrency + 256,
          memoryHook: true,
        }),
      ],
      { cores: '0', nodeFlags: ['--expose-gc', ...YOUNG_GENERATION] },
    );
    const target = gateway;
    const origin = `http://127.0.0.1:${target.port}`;
    const requests = new Pool(origin, { connections: options.concurrency, pipelining: 1 });
    const streamPool = new Pool(origin, {
      connections: options.streams + PROBE_TOTAL_STREAMS + 8,
      pipelining: 1,
      bodyTimeout: 0,
      headersTimeout: 0,
    });
    pools.push(requests, streamPool);
    let gcForced = false;
    const sample = async (count: number): Promise<MemorySample> => {
      await sleep(200);
      const response = await fetch(`http://127.0.0.1:${target.hookPort}/bench/memory`);
      const usage = (await response.json()) as {
        heapUsed: number;
        external: number;
        gc: boolean;
      };
      gcForced = usage.gc;
      return {
        count,
        rssBytes: target.rssBytes(),
        heapUsedBytes: usage.heapUsed,
        externalBytes: usage.external,
      };
    };

    const sessions: Session[] = [];
    const open = async (index: number): Promise<Session> => {
      const path = routePath(index % options.routes);
      const answer = await requests.request({
        path,
        method: 'POST',
        headers,
        body: initializeBody(index),
      });
      await answer.body.text();
      const id = answer.headers['mcp-session-id'];
      if (answer.statusCode !== 200 || typeof id !== 'string')
        throw new Error(`initialize answered ${answer.statusCode}`);
      const notified = await requests.request({
        path,
        method: 'POST',
        headers: { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': PROTOCOL_VERSION },
        body: INITIALIZED_NOTIFICATION,
      });
      await notified.body.dump();
      if (notified.statusCode !== 202)
        throw new Error(`notifications/initialized answered ${notified.statusCode}`);
      return { id, path };
    };
    const call = async (session: Session) => {
      const answer = await requests.request({
        path: session.path,
        method: 'POST',
        headers: {
          ...headers,
          'mcp-session-id': session.id,
          'mcp-protocol-version': PROTOCOL_VERSION,
        },
        body: TOOL_CALL,
      });
      await answer.body.text();
      if (answer.statusCode !== 200) throw new Error(`tools/call answered ${answer.statusCode}`);
    };
    const streams: { destroy(): void }[] = [];
    const openStream = async (session: Session, signal?: AbortSignal) => {
      const answer = await streamPool.request({
        path: session.path,
        method: 'GET',
        headers: {
          accept: 'text/event-stream',
          authorization: `Bearer ${token}`,
          'mcp-session-id': session.id,
          'mcp-protocol-version': PROTOCOL_VERSION,
        },
        ...(signal === undefined ? {} : { signal }),
      });
      if (answer.statusCode !== 200) throw new Error(`GET stream answered ${answer.statusCode}`);
      streams.push(answer.body);
      return answer.body;
    };

    // Warm-up, never counted: sessions on every route, a few streams opened and closed.
    const warm: Session[] = [];
    await inParallel(options.warmupSessions, options.concurrency, async (index) => {
      warm.push(await open(index));
    });
    for (const session of warm.slice(0, 8)) (await openStream(session)).destroy();
    streams.length = 0;
    const busy = warm[0];
    if (busy === undefined) throw new Error('no warm-up session');
    await inParallel(options.warmupRequests, options.concurrency, () => call(busy));

    // Idle sessions.
    const sessionSamples: MemorySample[] = [await sample(0)];
    let sessionsTime = 0;
    for (let checkpoint = 1; checkpoint <= options.checkpoints; checkpoint++) {
      const upTo = Math.round((options.sessions * checkpoint) / options.checkpoints);
      const from = sessions.length;
      const started = performance.now();
      await inParallel(upTo - from, options.concurrency, async (offset) => {
        sessions.push(await open(from + offset));
      });
      sessionsTime += performance.now() - started;
      sessionSamples.push(await sample(sessions.length));
    }

    // Control: the same number of requests, nothing new kept.
    const controlSamples: MemorySample[] = [await sample(0)];
    let controlTime = 0;
    for (let checkpoint = 1; checkpoint <= options.checkpoints; checkpoint++) {
      const upTo = Math.round((options.sessions * checkpoint) / options.checkpoints);
      const from = controlSamples.at(-1)?.count ?? 0;
      const started = performance.now();
      await inParallel(2 * (upTo - from), options.concurrency, () => call(busy));
      controlTime += performance.now() - started;
      controlSamples.push(await sample(upTo));
    }

    // SSE streams, one per session.
    const streamCount = Math.min(options.streams, sessions.length);
    const streamSamples: MemorySample[] = [await sample(0)];
    let streamsTime = 0;
    for (let checkpoint = 1; checkpoint <= options.checkpoints; checkpoint++) {
      const upTo = Math.round((streamCount * checkpoint) / options.checkpoints);
      const from = streams.length;
      const started = performance.now();
      await inParallel(upTo - from, options.concurrency, async (offset) => {
        const session = sessions[from + offset];
        if (session !== undefined) await openStream(session);
      });
      streamsTime += performance.now() - started;
      streamSamples.push(await sample(streams.length));
    }

    // Probe: one upstream's pool, already holding its share of streams, asked for more.
    const firstRoute = sessions.filter((session) => session.path === routePath(0));
    const already = sessions
      .slice(0, streamCount)
      .filter((session) => session.path === routePath(0)).length;
    const extraAsked = Math.max(0, PROBE_TOTAL_STREAMS - already);
    let extraOpened = 0;
    const extras = Promise.all(
      Array.from({ length: extraAsked }, async (_, index) => {
        const session = firstRoute[index % Math.max(1, firstRoute.length)];
        if (session === undefined) return;
        try {
          await openStream(session, AbortSignal.timeout(PROBE_TIMEOUT_MS));
          extraOpened++;
        } catch {
          // Not opened within the timeout: the upstream pool is full.
        }
      }),
    );
    // While those wait, an ordinary request on the same upstream.
    await sleep(PROBE_POST_DELAY_MS);
    let postAnsweredInMs: number | null = null;
    const probeSession = firstRoute[0];
    if (probeSession !== undefined) {
      const started = performance.now();
      try {
        const answer = await requests.request({
          path: probeSession.path,
          method: 'POST',
          headers: {
            ...headers,
            'mcp-session-id': probeSession.id,
            'mcp-protocol-version': PROTOCOL_VERSION,
          },
          body: TOOL_CALL,
          signal: AbortSignal.timeout(PROBE_POST_TIMEOUT_MS),
        });
        await answer.body.text();
        if (answer.statusCode === 200)
          postAnsweredInMs = Number((performance.now() - started).toFixed(1));
      } catch {
        // Unanswered within the timeout.
      }
    }
    await extras;
    for (const stream of streams) stream.destroy();

    const perItem = (samples: MemorySample[], ms: number): PerItem => {
      const heap = slope(samples.map((s) => [s.count, s.heapUsedBytes]));
      const external = slope(samples.map((s) => [s.count, s.externalBytes]));
      return {
        samples,
        rssBytesPerItem: Math.round(slope(samples.map((s) => [s.count, s.rssBytes]))),
        heapBytesPerItem: Math.round(heap),
        externalBytesPerItem: Math.round(external),
        retainedBytesPerItem: Math.round(heap + external),
        seconds: Number((ms / 1000).toFixed(2)),
      };
    };
    const idle = perItem(sessionSamples, sessionsTime);
    return {
      machine: where,
      settings: options,
      gcForced,
      idleSession: {
        ...idle,
        goalBytes: GOAL_BYTES,
        goalMet: Math.max(idle.rssBytesPerItem, idle.retainedBytesPerItem) <= GOAL_BYTES,
      },
      control: perItem(controlSamples, controlTime),
      sseStream: perItem(streamSamples, streamsTime),
      singleUpstreamProbe: {
        streamsAlreadyOpen: already,
        extraStreamsAsked: extraAsked,
        extraStreamsOpened: extraOpened,
        timeoutMs: PROBE_TIMEOUT_MS,
        postTimeoutMs: PROBE_POST_TIMEOUT_MS,
        postAnsweredInMs,
      },
    };
  } finally {
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
    await Promise.all([gateway?.stop(), upstream.stop()]);
  }
}

const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const row = (what: string, count: number, item: PerItem) =>
  `| ${what} | ${count} | ${kib(item.retainedBytesPerItem)} | ${kib(item.heapBytesPerItem)} | ${kib(item.externalBytesPerItem)} | ${kib(item.rssBytesPerItem)} | ${item.seconds} |`;

/** The markdown section for bench/results/latest.md. */
export function sessionsMarkdown(result: SessionsBenchResult): string {
  const { machine: m, settings, idleSession, sseStream, singleUpstreamProbe: probe } = result;
  return [
    '## Memory per idle session and per SSE stream (`bench/sessions.ts`)',
    '',
    `${m.cores} cores, ${m.cpu}, Node ${m.node}, ${m.date.slice(0, 10)}, load average ${m.loadAverage.join(' / ')}; gateway pinned to core 0${result.gcForced ? ', GC forced before each sample' : ''}; per item = least-squares slope over ${settings.checkpoints + 1} samples, after a warm-up of ${settings.warmupSessions} sessions and ${settings.warmupRequests} requests; young generation held at 16 MB per semi-space.`,
    '',
    '| what | count | retained KiB per item (heap + external) | V8 heap KiB | external KiB | RSS KiB | seconds to open |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    row('idle HTTP session (initialize + initialized)', settings.sessions, idleSession),
    row(
      'control: the same requests (2 per session) on one session, nothing kept',
      settings.sessions,
      result.control,
    ),
    row('open SSE stream (GET, held open)', sseStream.samples.at(-1)?.count ?? 0, sseStream),
    '',
    `Goal: ≤ 64 KiB per idle HTTP session (the larger of retained and RSS) — ${idleSession.goalMet ? 'met' : 'not met'}.`,
    '',
    `Streams were spread over ${settings.routes} routes to the same upstream. One upstream holding ${probe.streamsAlreadyOpen} streams, asked for ${probe.extraStreamsAsked} more: ${probe.extraStreamsOpened} opened within ${probe.timeoutMs} ms; a tools/call on it meanwhile: ${probe.postAnsweredInMs === null ? `no answer within ${probe.postTimeoutMs} ms` : `answered in ${probe.postAnsweredInMs} ms`}.`,
  ].join('\n');
}
