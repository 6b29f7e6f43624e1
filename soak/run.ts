/**
 * `npm run soak`: a long steady run of mixed load through the gateway and its co-located
 * authorization server, as a real `portcullis serve` process with a real stdio upstream
 * (@modelcontextprotocol/server-everything): tool calls, refreshes, revocations followed by a
 * new sign-in, signing-key rotation, client-credentials grants, sessions opened and closed or
 * abandoned, server-to-client streams held open.
 *
 * Every sample reads the gateway's own /metrics on the admin listener (resident memory, open
 * file descriptors, event-loop delay), counts its child processes, and asks the gateway for
 * `process.memoryUsage()` through soak/probe.ts, preloaded into it.
 *
 * The run fails when, after the warm-up, resident memory or open descriptors grow by more than
 * 10 %, or when any request gets a 5xx other than an intended 503 (a full session table).
 * Resident memory is judged as it stands right after a last-resort full collection, asked of the
 * gateway at the end of the warm-up, half-way and at the end: between full collections V8 lets
 * its heap grow to up to four times what is live (its heap controller's largest growing factor)
 * and keeps the pages until its memory reducer sees an idle moment, which a steady load never
 * gives, so resident memory sampled at an arbitrary moment swings by tens of MiB with nothing
 * retained. What remains after a full collection is what the process holds: a leak in the
 * JavaScript heap, in external or native memory, or in the allocator, shows there. The raw
 * samples are reported beside it.
 *
 *   node soak/run.ts [--minutes 30] [--warmup-minutes 5] [--sample-seconds 10] [--workers 3]
 *                    [--snapshot-dir DIR] [--serve-log FILE]
 *
 * With --snapshot-dir, the gateway also writes a heap snapshot there after each of those full
 * collections (`node soak/heap-diff.ts A B` compares two by constructor).
 *
 * Results go to soak/results/latest.json and soak/results/latest.md (a short run writes
 * soak/results/short.*). Not part of npm test.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const PROBE = join(ROOT, 'soak', 'probe.ts');
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const RESULTS = join(ROOT, 'soak', 'results');

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

function textOption(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

// Asking for help must not start a 30-minute run.
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(
    'usage: node soak/run.ts [--minutes 30] [--warmup-minutes 5] [--sample-seconds 10] [--workers 3] [--snapshot-dir DIR] [--serve-log FILE]',
  );
  process.exit(0);
}

const MINUTES = option('minutes', 30);
const WARMUP_MINUTES = option('warmup-minutes', Math.min(5, MINUTES / 5));
const SAMPLE_MS = option('sample-seconds', 10) * 1000;
const WORKERS = option('workers', 3);
const SNAPSHOT_DIR = textOption('snapshot-dir');
const SERVE_LOG = textOption('serve-log');
const GROWTH_LIMIT = 0.1;

const USERNAME = 'soak';
const PASSWORD = randomBytes(18).toString('base64url');
const CLIENT_ID = 'soak-client';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const HMAC_SECRET = randomBytes(32).toString('base64url');
const REDIRECT = 'http://127.0.0.1/cb';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

// ---------------------------------------------------------------------------------------------
// Counting answers

const statuses = new Map<number, number>();
const unexpected: string[] = [];
let requests = 0;

function note(what: string, status: number): void {
  requests++;
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
  if (status >= 500 && status !== 503) {
    if (unexpected.length < 50) unexpected.push(`${new Date().toISOString()} ${what}: ${status}`);
  }
}

async function call(what: string, url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  note(what, response.status);
  return response;
}

// ---------------------------------------------------------------------------------------------
// The authorization server, as a client and a browser would use it

interface Tokens {
  access: string;
  refresh: string;
}

const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;

/** A minimal cookie jar for the login and consent pages (cookies are HttpOnly, path /oauth). */
class Browser {
  readonly cookies = new Map<string, string>();
  header(): Record<string, string> {
    return this.cookies.size === 0
      ? {}
      : { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }
  absorb(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      if (index > 0) this.cookies.set(pair.slice(0, index), pair.slice(index + 1));
    }
  }
}

function hidden(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    if (match[1] !== undefined) out[match[1]] = (match[2] ?? '').replace(/&amp;/g, '&');
  }
  return out;
}

/** The authorization code flow with PKCE, signing in when the browser has no session. */
async function signIn(origin: string, browser: Browser): Promise<Tokens> {
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: `${origin}/mcp`,
    scope: 'mcp:tools',
    state: randomBytes(8).toString('hex'),
  });
  let response = await call('authorize', `${origin}/oauth/authorize?${query}`, {
    headers: browser.header(),
  });
  browser.absorb(response);
  for (let hop = 0; hop < 6; hop++) {
    const location = response.headers.get('location') ?? '';
    if (location.startsWith(REDIRECT)) break;
    if (response.status !== 303) throw new Error(`sign-in stopped at ${response.status}`);
    const page = await call('page', new URL(location, origin).href, { headers: browser.header() });
    browser.absorb(page);
    if (page.status === 303) {
      response = page;
      continue;
    }
    const fields = hidden(await page.text());
    const path = new URL(location, origin).pathname;
    const form =
      path === '/oauth/login'
        ? { ...fields, username: USERNAME, password: PASSWORD }
        : { ...fields, decision: 'allow' };
    response = await call(`post ${path}`, `${origin}${path}`, {
      method: 'POST',
      headers: { ...browser.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    browser.absorb(response);
  }
  const code = new URL(response.headers.get('location') ?? '').searchParams.get('code');
  if (code === null) throw new Error('no code');
  return tokenGrant(origin, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    resource: `${origin}/mcp`,
  });
}

async function tokenGrant(origin: string, fields: Record<string, string>): Promise<Tokens> {
  const response = await call(`token ${fields.grant_type}`, `${origin}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
  const body = (await response.json()) as {
    access_token?: string;
    refresh_token?: string;
    error?: string;
    error_description?: string;
  };
  if (response.status !== 200 || body.access_token === undefined) {
    throw new Error(
      `token grant ${fields.grant_type}: ${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`.trim(),
    );
  }
  return { access: body.access_token, refresh: body.refresh_token ?? '' };
}

// ---------------------------------------------------------------------------------------------
// MCP through the gateway

const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18',
};

async function rpc(
  url: string,
  token: string,
  session: string | undefined,
  message: Record<string, unknown>,
): Promise<Response> {
  const response = await call(`mcp ${String(message.method)}`, url, {
    method: 'POST',
    headers: {
      ...MCP_HEADERS,
      authorization: `Bearer ${token}`,
      ...(session === undefined ? {} : { 'mcp-session-id': session }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', ...message }),
  });
  await response.arrayBuffer();
  return response;
}

async function openSession(url: string, token: string): Promise<string | undefined> {
  const init = await rpc(url, token, undefined, {
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'portcullis-soak', version: '1' },
    },
  });
  const session = init.headers.get('mcp-session-id') ?? undefined;
  if (session !== undefined) {
    await rpc(url, token, session, { method: 'notifications/initialized' });
  }
  return session;
}

// ---------------------------------------------------------------------------------------------
// Sampling the gateway process

interface Memory {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

interface Sample {
  readonly atSeconds: number;
  readonly rssBytes: number;
  readonly openFds: number;
  readonly eventLoopP99Ms: number;
  readonly children: number;
  readonly memory: Memory;
  /** Resident memory split (kernel's view): anonymous (heaps, stacks, V8) and file-backed (code). */
  readonly rssAnonBytes: number;
  readonly rssFileBytes: number;
}

/** Memory right after a last-resort full collection. */
interface Collected {
  readonly label: string;
  readonly atSeconds: number;
  readonly memory: Memory;
  readonly rssAnonBytes: number;
}

/** A `/proc/<pid>/status` field given in kB, in bytes. */
function statusBytes(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** Asks soak/probe.ts in the gateway for its memory use, after a full collection or a snapshot. */
class Probe {
  #next = 0;
  readonly #waiting = new Map<number, (answer: { memory?: Memory; error?: string }) => void>();
  readonly #child: ChildProcess;
  constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (answer: { id: number; memory?: Memory; error?: string }) => {
      this.#waiting.get(answer.id)?.(answer);
      this.#waiting.delete(answer.id);
    });
  }
  ask(probe: 'memory' | 'collect' | 'snapshot', path?: string): Promise<Memory> {
    const id = ++this.#next;
    return new Promise<Memory>((resolve, reject) => {
      this.#waiting.set(id, (answer) =>
        answer.memory === undefined
          ? reject(new Error(`probe: ${answer.error ?? 'no answer'}`))
          : resolve(answer.memory),
      );
      this.#child.send({ probe, id, path });
    });
  }
}

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
  return match?.[1] === undefined ? Number.NaN : Number(match[1]);
}

/** Child processes of `pid` (any depth), from /proc. */
function descendants(pid: number): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  let count = 0;
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        count++;
        frontier.push(child);
      }
    }
  }
  return count;
}

async function sample(
  adminOrigin: string,
  pid: number,
  startedAt: number,
  probe: Probe,
): Promise<Sample> {
  const text = await (await fetch(`${adminOrigin}/metrics`)).text();
  const memory = await probe.ask('memory');
  return {
    atSeconds: Math.round((Date.now() - startedAt) / 1000),
    rssBytes: metric(text, 'portcullis_process_resident_memory_bytes'),
    openFds: metric(text, 'portcullis_process_open_fds'),
    eventLoopP99Ms:
      Math.round(metric(text, 'portcullis_nodejs_eventloop_lag_p99_seconds') * 1e5) / 100,
    children: descendants(pid),
    memory,
    rssAnonBytes: statusBytes(pid, 'RssAnon'),
    rssFileBytes: statusBytes(pid, 'RssFile'),
  };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

// ---------------------------------------------------------------------------------------------
// The run

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-soak-'));
  const port = await freePort();
  const adminPort = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const adminOrigin = `http://127.0.0.1:${adminPort}`;
  const config = join(dir, 'soak.yaml');
  writeFileSync(
    config,
    stringify({
      remote_mcp: {
        enabled: true,
        bind_address: `127.0.0.1:${port}`,
        admin_bind_address: `127.0.0.1:${adminPort}`,
        allowed_scopes: ['mcp:tools', 'mcp:resources', 'mcp:prompts'],
        token_id_hmac_secret_env: 'SOAK_HMAC_SECRET',
        // The soak measures leaks, not the limiter: one address sends everything.
        rate_limit_max_requests: 1_000_000,
        max_connections: 256,
      },
      safety: { remote_mcp_enabled: true },
      upstreams: [
        {
          name: 'everything',
          path: '/mcp',
          command: process.execPath,
          args: [EVERYTHING, 'stdio'],
          tool_scopes: { '*': 'mcp:tools' },
          max_sessions: 12,
          // One subject runs every worker: its share must fit them all.
          max_sessions_per_subject: 10,
          session_idle_timeout_seconds: 30,
        },
      ],
      authorization_server: {
        enabled: true,
        dynamic_registration: 'off',
        access_token_ttl_seconds: 120,
        clients: [
          {
            client_id: CLIENT_ID,
            client_name: 'Soak client',
            client_secret_env: 'SOAK_CLIENT_SECRET',
            redirect_uris: [REDIRECT],
            grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
            scope: ['mcp:tools'],
          },
        ],
      },
      store: { sqlite: join(dir, 'soak.db') },
      audit: { path: join(dir, 'audit.jsonl') },
    }),
  );
  const env = {
    PATH: process.env.PATH ?? '',
    SOAK_HMAC_SECRET: HMAC_SECRET,
    SOAK_CLIENT_SECRET: CLIENT_SECRET,
    PORTCULLIS_LOG_LEVEL: 'warn',
  };
  const added = spawnSync(
    process.execPath,
    [CLI, 'users', 'add', USERNAME, '--config', config, '--password-stdin'],
    {
      env,
      input: `${PASSWORD}\n`,
      encoding: 'utf8',
    },
  );
  if (added.status !== 0) throw new Error(`users add failed: ${added.stderr}`);

  const serve = spawn(
    process.execPath,
    ['--import', PROBE, CLI, 'serve', '--config', config, '--enable-remote-mcp'],
    { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  const stderr = serve.stderr;
  if (stderr === null) throw new Error('no stderr pipe');
  const probe = new Probe(serve);
  const serveLog: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let text = '';
    stderr.setEncoding('utf8');
    stderr.on('data', (chunk: string) => {
      text += chunk;
      if (serveLog.length < 200) serveLog.push(...chunk.split('\n').filter(Boolean).slice(0, 20));
      if (/authorization server http/.test(text)) resolve();
    });
    serve.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
  const pid = serve.pid ?? 0;
  // The gateway's own log (warnings and errors), kept when asked for, e.g. to read what a
  // debugger attached to it printed.
  if (SERVE_LOG !== undefined)
    stderr.on('data', (chunk: string) => appendFileSync(SERVE_LOG, chunk));
  console.log(`gateway pid ${pid}`);
  const startedAt = Date.now();
  const deadline = startedAt + MINUTES * 60_000;
  const warmupEnds = startedAt + WARMUP_MINUTES * 60_000;
  const mcp = `${origin}/mcp`;
  const running = () => Date.now() < deadline;
  const errors: string[] = [];
  const guard = (name: string, task: () => Promise<void>) => async () => {
    while (running()) {
      try {
        await task();
      } catch (error) {
        if (errors.length < 50) errors.push(`${name}: ${(error as Error).message}`);
        await sleep(1000);
      }
    }
  };

  const browser = new Browser();
  let tokens = await signIn(origin, browser);
  const counts = {
    toolCalls: 0,
    refreshes: 0,
    revocations: 0,
    rotations: 0,
    streams: 0,
    sessions: 0,
  };

  const toolCaller = guard('tool calls', async () => {
    const session = await openSession(mcp, tokens.access);
    counts.sessions++;
    for (let index = 0; index < 20 && running(); index++) {
      await rpc(mcp, tokens.access, session, {
        id: index + 2,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: `soak ${index}` } },
      });
      counts.toolCalls++;
      await sleep(100);
    }
    // Half the sessions are closed, half abandoned (the idle timeout must reap them).
    if (session !== undefined && Math.random() < 0.5) {
      await call('mcp DELETE', mcp, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${tokens.access}`, 'mcp-session-id': session },
      });
    }
  });

  // The refresher and the revoker take turns with the token pair, as one real client would. When
  // they overlapped, a refresh that started with the pair the revoker was about to revoke (or
  // whose answer landed after the revoker's new sign-in) either got invalid_grant, the correct
  // answer for a revoked family (RFC 7009 §2.1), or replaced the new pair with one of the revoked
  // family, so every later call got 401 until the next sign-in.
  let turn: Promise<unknown> = Promise.resolve();
  const withTokens = <T>(task: () => Promise<T>): Promise<T> => {
    const result = turn.then(task);
    turn = result.catch(() => undefined);
    return result;
  };

  const refresher = guard('refresh', async () => {
    await sleep(15_000);
    await withTokens(async () => {
      tokens = await tokenGrant(origin, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh,
      });
    });
    counts.refreshes++;
  });

  const revoker = guard('revoke', async () => {
    await sleep(45_000);
    await withTokens(async () => {
      const old = tokens;
      tokens = await signIn(origin, browser);
      for (const token of [old.refresh, old.access]) {
        await call('revoke', `${origin}/oauth/revoke`, {
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }),
        });
      }
    });
    counts.revocations++;
  });

  const streamHolder = guard('streams', async () => {
    const session = await openSession(mcp, tokens.access);
    if (session === undefined) {
      await sleep(2000);
      return;
    }
    const abort = new AbortController();
    const response = await fetch(mcp, {
      headers: {
        accept: 'text/event-stream',
        authorization: `Bearer ${tokens.access}`,
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-06-18',
      },
      signal: abort.signal,
    });
    note('mcp GET stream', response.status);
    counts.streams++;
    await sleep(20_000);
    abort.abort();
    await response.body?.cancel().catch(() => undefined);
    await call('mcp DELETE', mcp, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${tokens.access}`, 'mcp-session-id': session },
    });
  });

  const machineClient = guard('client credentials', async () => {
    await sleep(10_000);
    const machine = await tokenGrant(origin, {
      grant_type: 'client_credentials',
      scope: 'mcp:tools',
      resource: mcp,
    });
    const session = await openSession(mcp, machine.access);
    await rpc(mcp, machine.access, session, {
      id: 9,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'machine' } },
    });
  });

  const rotator = guard('key rotation', async () => {
    await sleep(Math.max(60_000, (MINUTES * 60_000) / 6));
    if (!running()) return;
    const rotated = spawnSync(process.execPath, [CLI, 'keys', 'rotate', '--config', config], {
      env,
      encoding: 'utf8',
    });
    if (rotated.status !== 0) throw new Error(`keys rotate: ${rotated.stderr.trim()}`);
    counts.rotations++;
  });

  const samples: Sample[] = [];
  const sampler = guard('sampling', async () => {
    samples.push(await sample(adminOrigin, pid, startedAt, probe));
    await sleep(SAMPLE_MS);
  });

  // What the gateway holds after a last-resort full collection, at the end of the warm-up,
  // half-way and shortly before the end, all under load (once the load stops, sessions close and
  // the gateway holds less, which would flatter the end); with --snapshot-dir, a heap snapshot
  // after each.
  const collected: Collected[] = [];
  const collect = async (label: string) => {
    const atSeconds = Math.round((Date.now() - startedAt) / 1000);
    const memory = await probe.ask('collect');
    collected.push({ label, atSeconds, memory, rssAnonBytes: statusBytes(pid, 'RssAnon') });
    if (SNAPSHOT_DIR === undefined) return;
    mkdirSync(SNAPSHOT_DIR, { recursive: true });
    await probe.ask('snapshot', join(SNAPSHOT_DIR, `${label}.heapsnapshot`));
  };
  const collector = async () => {
    const points = [
      ['warm', warmupEnds],
      ['middle', (warmupEnds + deadline) / 2],
      ['end', deadline - Math.min(20_000, SAMPLE_MS * 2)],
    ] as const;
    for (const [label, at] of points) {
      await sleep(Math.max(0, at - Date.now()));
      await collect(label);
    }
  };

  await Promise.all([
    ...Array.from({ length: WORKERS }, () => toolCaller()),
    streamHolder(),
    refresher(),
    revoker(),
    machineClient(),
    rotator(),
    sampler(),
    collector(),
  ]);
  samples.push(await sample(adminOrigin, pid, startedAt, probe));

  const exited = new Promise<number | null>((resolve) => serve.once('exit', resolve));
  serve.kill('SIGTERM');
  const exitCode = await exited;
  rmSync(dir, { recursive: true, force: true });

  const warmSeconds = (warmupEnds - startedAt) / 1000;
  const warm = samples.filter((entry) => entry.atSeconds >= warmSeconds);
  const first = warm.slice(0, 3);
  const last = warm.slice(-3);
  const growth = (pick: (entry: Sample) => number) =>
    median(last.map(pick)) / median(first.map(pick)) - 1;
  const rawRssGrowth = growth((entry) => entry.rssBytes);
  const fdGrowth = growth((entry) => entry.openFds);
  const afterWarmup = collected.find((entry) => entry.label === 'warm');
  const atEnd = collected.find((entry) => entry.label === 'end');
  const collectedGrowth = (pick: (entry: Collected) => number) =>
    afterWarmup === undefined || atEnd === undefined
      ? Number.NaN
      : pick(atEnd) / pick(afterWarmup) - 1;
  const rssGrowth = collectedGrowth((entry) => entry.memory.rss);
  const heapGrowth = collectedGrowth((entry) => entry.memory.heapUsed);
  const externalGrowth = collectedGrowth((entry) => entry.memory.external);
  const problems: string[] = [];
  if (warm.length < 4) problems.push('too few samples after the warm-up to judge growth');
  if (!(rssGrowth <= GROWTH_LIMIT))
    problems.push(
      `resident memory after a full collection grew ${(rssGrowth * 100).toFixed(1)} % after warm-up`,
    );
  if (!(fdGrowth <= GROWTH_LIMIT))
    problems.push(`open descriptors grew ${(fdGrowth * 100).toFixed(1)} % after warm-up`);
  if (SNAPSHOT_DIR !== undefined) {
    // Writing a snapshot takes tens of MiB from malloc, which glibc keeps: such a run diagnoses,
    // it cannot pass.
    problems.push('heap snapshots were written, which grows the malloc arenas: not a judged run');
  }
  if (unexpected.length > 0) problems.push(`${unexpected.length} unexpected 5xx answers`);
  if (exitCode !== 0) problems.push(`serve exited with ${exitCode}`);

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    minutes: MINUTES,
    warmupMinutes: WARMUP_MINUTES,
    workers: WORKERS,
    passed: problems.length === 0,
    problems,
    requests,
    statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
    counts,
    unexpected5xx: unexpected,
    errors,
    growth: {
      rss: rssGrowth,
      openFds: fdGrowth,
      limit: GROWTH_LIMIT,
      heapUsed: heapGrowth,
      external: externalGrowth,
      rawRss: rawRssGrowth,
    },
    collected,
    start: samples[0],
    afterWarmup: first[0],
    end: samples.at(-1),
    samples,
  };
  mkdirSync(RESULTS, { recursive: true });
  const name = MINUTES >= 30 ? 'latest' : 'short';
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(RESULTS, `${name}.md`), markdown(result));
  console.log(markdown(result));
  return result.passed ? 0 : 1;
}

const HEADER = [
  '| sample | at s | RSS MiB | anon MiB | file MiB | heap used MiB | heap total MiB | external MiB | array buffers MiB | open fds | event-loop p99 ms | child processes |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
].join('\n');

function markdown(result: {
  date: string;
  node: string;
  minutes: number;
  warmupMinutes: number;
  passed: boolean;
  problems: string[];
  requests: number;
  statuses: Record<string, number>;
  counts: Record<string, number>;
  errors: string[];
  growth: {
    rss: number;
    openFds: number;
    limit: number;
    heapUsed: number;
    external: number;
    rawRss: number;
  };
  collected: readonly Collected[];
  start: Sample | undefined;
  afterWarmup: Sample | undefined;
  end: Sample | undefined;
  samples: readonly Sample[];
}): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const percent = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
  const row = (label: string, entry: Sample | undefined) =>
    entry === undefined
      ? `| ${label} | | | | | | | | | | | |`
      : `| ${label} | ${entry.atSeconds} | ${mib(entry.rssBytes)} | ${mib(entry.rssAnonBytes)} | ${mib(entry.rssFileBytes)} | ${mib(entry.memory.heapUsed)} | ${mib(entry.memory.heapTotal)} | ${mib(entry.memory.external)} | ${mib(entry.memory.arrayBuffers)} | ${entry.openFds} | ${entry.eventLoopP99Ms} | ${entry.children} |`;
  // One row a minute: the shape of the curve tells a leak (steady climb of the heap) from the
  // heap or the allocator taking room in steps.
  const minutes = result.samples.filter(
    (entry, index, all) =>
      index === 0 ||
      Math.floor(entry.atSeconds / 60) > Math.floor((all[index - 1]?.atSeconds ?? 0) / 60),
  );
  return [
    `# Soak run: ${result.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `${result.date}, Node ${result.node}: ${result.minutes} min (warm-up ${result.warmupMinutes} min) of mixed load through \`portcullis serve\` (gateway + co-located authorization server, stdio server-everything upstream).`,
    '',
    HEADER,
    row('start', result.start),
    row('after warm-up', result.afterWarmup),
    row('end', result.end),
    '',
    'Right after a last-resort full collection (what the gateway holds):',
    '',
    '> Resident memory is judged here, not on the raw samples above: between full collections V8 lets its heap grow up to four times what is live and keeps those pages while the load stays steady, so raw resident memory at a given moment says how far the heap has sized itself, not what the gateway retains. A leak in the JavaScript heap, in external or native memory, or in the allocator, stays after a full collection.',
    '',
    '| point | at s | RSS MiB | anon MiB | heap used MiB | heap total MiB | external MiB | array buffers MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...result.collected.map(
      (entry) =>
        `| ${entry.label} | ${entry.atSeconds} | ${mib(entry.memory.rss)} | ${mib(entry.rssAnonBytes)} | ${mib(entry.memory.heapUsed)} | ${mib(entry.memory.heapTotal)} | ${mib(entry.memory.external)} | ${mib(entry.memory.arrayBuffers)} |`,
    ),
    '',
    `Growth after warm-up, judged: resident memory after a full collection ${percent(result.growth.rss)}, open descriptors ${percent(result.growth.openFds)} (limit ${result.growth.limit * 100} %). Reported: JavaScript heap retained ${percent(result.growth.heapUsed)}, external ${percent(result.growth.external)}; raw resident memory (median of the first and last three samples after warm-up, which V8's heap sizing swings) ${percent(result.growth.rawRss)}.`,
    '',
    `Requests: ${result.requests}; by status: ${Object.entries(result.statuses)
      .map(([status, count]) => `${status}: ${count}`)
      .join(', ')}.`,
    `Work done: ${Object.entries(result.counts)
      .map(([name, count]) => `${name} ${count}`)
      .join(', ')}.`,
    '',
    result.problems.length === 0
      ? 'No problems.'
      : `Problems:\n${result.problems.map((line) => `- ${line}`).join('\n')}`,
    result.errors.length === 0
      ? ''
      : `\nClient-side errors (first ${result.errors.length}):\n${result.errors.map((line) => `- ${line}`).join('\n')}`,
    '',
    '## Every minute',
    '',
    HEADER,
    ...minutes.map((entry) => row('', entry)),
    '',
  ].join('\n');
}

process.exitCode = await main();
