/**
 * `npm run soak`: a long steady run of mixed load through the gateway and its co-located
 * authorization server, as a real `portcullis serve` process with a real stdio upstream
 * (@modelcontextprotocol/server-everything): tool calls, refreshes, revocations followed by a
 * new sign-in, signing-key rotation, client-credentials grants, sessions opened and closed or
 * abandoned, server-to-client streams held open.
 *
 * Every sample reads the gateway's own /metrics on the admin listener (resident memory, open
 * file descriptors, event-loop delay) and counts its child processes. The run fails when, after
 * the warm-up, resident memory or open descriptors grow by more than 10 %, or when any request
 * gets a 5xx other than an intended 503 (a full session table).
 *
 *   node soak/run.ts [--minutes 30] [--warmup-minutes 5] [--sample-seconds 10] [--workers 3]
 *
 * Results go to soak/results/latest.json and soak/results/latest.md (a short run writes
 * soak/results/short.*). Not part of npm test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const RESULTS = join(ROOT, 'soak', 'results');

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

const MINUTES = option('minutes', 30);
const WARMUP_MINUTES = option('warmup-minutes', Math.min(5, MINUTES / 5));
const SAMPLE_MS = option('sample-seconds', 10) * 1000;
const WORKERS = option('workers', 3);
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
  const body = (await response.json()) as { access_token?: string; refresh_token?: string };
  if (response.status !== 200 || body.access_token === undefined) {
    throw new Error(`token grant ${fields.grant_type}: ${response.status}`);
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

interface Sample {
  readonly atSeconds: number;
  readonly rssBytes: number;
  readonly openFds: number;
  readonly eventLoopP99Ms: number;
  readonly children: number;
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

async function sample(adminOrigin: string, pid: number, startedAt: number): Promise<Sample> {
  const text = await (await fetch(`${adminOrigin}/metrics`)).text();
  return {
    atSeconds: Math.round((Date.now() - startedAt) / 1000),
    rssBytes: metric(text, 'portcullis_process_resident_memory_bytes'),
    openFds: metric(text, 'portcullis_process_open_fds'),
    eventLoopP99Ms:
      Math.round(metric(text, 'portcullis_nodejs_eventloop_lag_p99_seconds') * 1e5) / 100,
    children: descendants(pid),
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

  const serve = spawn(process.execPath, [CLI, 'serve', '--config', config, '--enable-remote-mcp'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const serveLog: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let text = '';
    serve.stderr.setEncoding('utf8');
    serve.stderr.on('data', (chunk: string) => {
      text += chunk;
      if (serveLog.length < 200) serveLog.push(...chunk.split('\n').filter(Boolean).slice(0, 20));
      if (/authorization server http/.test(text)) resolve();
    });
    serve.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
  const pid = serve.pid ?? 0;
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

  const refresher = guard('refresh', async () => {
    await sleep(15_000);
    tokens = await tokenGrant(origin, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh,
    });
    counts.refreshes++;
  });

  const revoker = guard('revoke', async () => {
    await sleep(45_000);
    const old = tokens;
    tokens = await signIn(origin, browser);
    for (const token of [old.refresh, old.access]) {
      await call('revoke', `${origin}/oauth/revoke`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
    }
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
    samples.push(await sample(adminOrigin, pid, startedAt));
    await sleep(SAMPLE_MS);
  });

  await Promise.all([
    ...Array.from({ length: WORKERS }, () => toolCaller()),
    streamHolder(),
    refresher(),
    revoker(),
    machineClient(),
    rotator(),
    sampler(),
  ]);
  samples.push(await sample(adminOrigin, pid, startedAt));

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
  const rssGrowth = growth((entry) => entry.rssBytes);
  const fdGrowth = growth((entry) => entry.openFds);
  const problems: string[] = [];
  if (warm.length < 4) problems.push('too few samples after the warm-up to judge growth');
  if (!(rssGrowth <= GROWTH_LIMIT))
    problems.push(`resident memory grew ${(rssGrowth * 100).toFixed(1)} % after warm-up`);
  if (!(fdGrowth <= GROWTH_LIMIT))
    problems.push(`open descriptors grew ${(fdGrowth * 100).toFixed(1)} % after warm-up`);
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
    growth: { rss: rssGrowth, openFds: fdGrowth, limit: GROWTH_LIMIT },
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
  growth: { rss: number; openFds: number; limit: number };
  start: Sample | undefined;
  afterWarmup: Sample | undefined;
  end: Sample | undefined;
}): string {
  const row = (label: string, entry: Sample | undefined) =>
    entry === undefined
      ? `| ${label} | | | | | |`
      : `| ${label} | ${entry.atSeconds} | ${(entry.rssBytes / 2 ** 20).toFixed(1)} | ${entry.openFds} | ${entry.eventLoopP99Ms} | ${entry.children} |`;
  return [
    `# Soak run: ${result.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `${result.date}, Node ${result.node}: ${result.minutes} min (warm-up ${result.warmupMinutes} min) of mixed load through \`portcullis serve\` (gateway + co-located authorization server, stdio server-everything upstream).`,
    '',
    '| sample | at s | RSS MiB | open fds | event-loop p99 ms | child processes |',
    '| --- | --- | --- | --- | --- | --- |',
    row('start', result.start),
    row('after warm-up', result.afterWarmup),
    row('end', result.end),
    '',
    `Growth after warm-up: resident memory ${(result.growth.rss * 100).toFixed(1)} %, open descriptors ${(result.growth.openFds * 100).toFixed(1)} % (limit ${result.growth.limit * 100} %).`,
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
  ].join('\n');
}

process.exitCode = await main();
