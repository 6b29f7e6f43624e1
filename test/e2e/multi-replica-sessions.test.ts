/**
 * Gateway replicas on one Redis, each request sent straight to a chosen replica (no load
 * balancer, so nothing is retried elsewhere):
 * - a legacy session of an HTTP upstream opened on one replica is served by the others (its
 *   record in Redis: subject, route, the upstream's session id); another subject presenting its
 *   id gets 404 on every replica and the upstream sees nothing; DELETE on one replica ends it on
 *   all of them;
 * - a stream resumed on another replica (Last-Event-ID) replays a tools/list answer filtered for
 *   the caller, though that replica never saw the request;
 * - a session of a stdio upstream stays on the replica that started the child (404 elsewhere);
 * - rate limits at one Redis round trip per request, counted by Redis itself; the address
 *   screened in memory before any token work, and counted in Redis by a request its token fails.
 * Each replica is a whole server as `serve` assembles it (startPortcullis), with its own Redis
 * connections, session registry and upstream connections.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Redis } from 'ioredis';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { toYaml } from '../helpers/configs.ts';
import { memoryLogger, STDIO_TEST_SERVER, TEST_TOOL_SCOPES } from '../helpers/gateway.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { createTestMcpServer } from '../helpers/mcp-test-server.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { generateKey, type TestKey, token } from '../helpers/tokens.ts';
import { type RedisProcess, redisMissing, startRedis } from '../store/redis-harness.ts';

const ISSUER = 'https://issuer.replicas.test';
const AUDIENCE = 'https://gateway.replicas.test/mcp';
const SCOPES = ['files:read', 'files:write'];

const missing = redisMissing();

function mint(key: TestKey, subject: string): string {
  const now = Math.floor(Date.now() / 1000);
  return token(key, {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: subject,
    client_id: 'replica-test',
    scope: SCOPES.join(' '),
    iat: now - 5,
    exp: now + 3600,
    jti: `${subject}-${now}-${Math.random()}`,
  });
}

interface Replicas {
  readonly all: RunningPortcullis[];
  close(): Promise<void>;
}

async function startReplicas(options: {
  count: number;
  redisUrl: string;
  keyPrefix: string;
  jwksUrl: string;
  upstreamUrl: string;
  rateLimit: number;
}): Promise<Replicas> {
  const document = {
    remote_mcp: {
      enabled: true,
      bind_address: '127.0.0.1:0',
      issuer: ISSUER,
      jwks_url: options.jwksUrl,
      audiences: [AUDIENCE],
      allowed_scopes: SCOPES,
      token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
      rate_limit_max_requests: options.rateLimit,
      rate_limit_window_seconds: 60,
    },
    safety: { remote_mcp_enabled: true },
    upstreams: [
      { name: 'files', path: '/mcp', url: options.upstreamUrl, tool_scopes: TEST_TOOL_SCOPES },
      {
        name: 'local',
        path: '/stdio',
        command: process.execPath,
        args: [STDIO_TEST_SERVER],
        tool_scopes: TEST_TOOL_SCOPES,
      },
    ],
    store: {
      redis: options.redisUrl,
      redis_options: { key_prefix: options.keyPrefix, command_timeout_ms: 2000 },
    },
    development: { allow_loopback_urls: true },
  };
  const all: RunningPortcullis[] = [];
  for (let index = 0; index < options.count; index++) {
    const loaded = loadConfigText(toYaml(document), {
      source: `replica-${index}`,
      env: { TEST_HMAC_SECRET: HMAC_SECRET },
    });
    all.push(await startPortcullis(loaded, { logger: memoryLogger().logger, audit: false }));
  }
  let closed = false;
  return {
    all,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const replica of all) await replica.close();
    },
  };
}

/**
 * One describe block's world: a redis-server, the JWKS server for `key` and an upstream, started
 * before its tests; replicas on them started by `replicas` (Redis database 0, the given key
 * prefix); everything stopped after the block.
 */
function replicaWorld<U extends { url: string; close(): Promise<void> }>(
  key: TestKey,
  startUpstream: () => Promise<U>,
) {
  const started: Replicas[] = [];
  const world = {
    redis: undefined as unknown as RedisProcess,
    jwks: undefined as unknown as LoopbackServer,
    upstream: undefined as unknown as U,
    async replicas(options: {
      count: number;
      keyPrefix: string;
      rateLimit: number;
    }): Promise<Replicas> {
      const replicas = await startReplicas({
        ...options,
        redisUrl: `${world.redis.url}/0`,
        jwksUrl: `${world.jwks.origin}/jwks.json`,
        upstreamUrl: world.upstream.url,
      });
      started.push(replicas);
      return replicas;
    },
  };
  before(async () => {
    world.redis = await startRedis();
    world.jwks = await startLoopbackServer({
      '/jwks.json': (_request, response) => json(response, 200, { keys: [key.jwk] }),
    });
    world.upstream = await startUpstream();
  });
  after(async () => {
    for (const replicas of started) await replicas.close();
    await world.upstream?.close();
    await world.jwks?.close();
    await world.redis?.remove();
  });
  return world;
}

interface Reply {
  readonly status: number;
  readonly sessionId: string | null;
  readonly text: string;
}

async function post(
  replica: RunningPortcullis,
  path: string,
  bearer: string,
  message: Record<string, unknown>,
  sessionId?: string,
): Promise<Reply> {
  const response = await fetch(`${replica.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${bearer}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', ...message }),
  });
  return {
    status: response.status,
    sessionId: response.headers.get('mcp-session-id'),
    text: await response.text(),
  };
}

const INITIALIZE = {
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'replica-test', version: '1' },
  },
};
const INITIALIZED = { method: 'notifications/initialized' };
const readFile = (id: number) => ({
  id,
  method: 'tools/call',
  params: { name: 'read_file', arguments: { path: `/r/${id}` } },
});

/** Opens a 2025 session on `replica`: initialize, then the initialized notification. */
async function openSession(replica: RunningPortcullis, path: string, bearer: string) {
  const opened = await post(replica, path, bearer, INITIALIZE);
  assert.equal(opened.status, 200, opened.text);
  assert.ok(opened.sessionId);
  const initialized = await post(replica, path, bearer, INITIALIZED, opened.sessionId);
  assert.equal(initialized.status, 202, initialized.text);
  return opened.sessionId;
}

/** Resolves once `condition` holds (state changed by a pub/sub message, checked between turns). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('legacy sessions shared by replicas on one Redis', { skip: missing }, () => {
  const key = generateKey('ES256', 'replicas-1');
  const alice = mint(key, 'alice');
  const bob = mint(key, 'bob');
  const world = replicaWorld(key, () => startRecordingUpstream({ jsonResponse: true }));
  let replicas: Replicas;

  before(async () => {
    replicas = await world.replicas({ count: 3, keyPrefix: 'sessions:', rateLimit: 10_000 });
  });

  it('a session opened on one replica is served by the others; another subject gets 404 everywhere; DELETE ends it on all', async () => {
    const [a, b, c] = replicas.all;
    assert.ok(a && b && c);
    const route = (replica: RunningPortcullis) => replica.gateway.routes.routes[0];
    const session = await openSession(a, '/mcp', alice);
    const upstreamSession = world.upstream.requests.at(-1)?.headers['mcp-session-id'];
    assert.ok(typeof upstreamSession === 'string', 'the upstream issued its own session id');
    assert.notEqual(upstreamSession, session, 'the client sees the gateway’s id only');

    // Served by B and C directly: no load balancer, nothing retried.
    for (const [index, replica] of [b, c, b].entries()) {
      const answer = await post(replica, '/mcp', alice, readFile(10 + index), session);
      assert.equal(answer.status, 200, answer.text);
      assert.match(answer.text, new RegExp(`contents of /r/${10 + index}`));
      const seen = world.upstream.requests.at(-1);
      assert.equal(seen?.headers['mcp-session-id'], upstreamSession, 'forwarded in its session');
      assert.equal(seen?.headers.authorization, undefined, 'the client’s token stays behind');
    }
    assert.ok(b.gateway.sessions.holds(session, route(b) as never));

    // The subject binding holds on every replica: the opener, one with a copy, one reading
    // the record anew. Bob's own token is valid; the session is not his.
    const fresh = await world.replicas({ count: 1, keyPrefix: 'sessions:', rateLimit: 10_000 });
    try {
      const d = fresh.all[0];
      assert.ok(d);
      const seenBefore = world.upstream.requests.length;
      for (const [name, replica] of [
        ['opener', a],
        ['copy', b],
        ['copy', c],
        ['never served it', d],
      ] as const) {
        const hijack = await post(replica, '/mcp', bob, readFile(20), session);
        assert.equal(hijack.status, 404, `${name}: ${hijack.text}`);
        assert.match(hijack.text, /McpSessionNotFound/);
        // The same id on another route is no session either.
        const otherRoute = await post(replica, '/stdio', alice, readFile(21), session);
        assert.equal(otherRoute.status, 404, `${name}, other route: ${otherRoute.text}`);
      }
      assert.equal(world.upstream.requests.length, seenBefore, 'the upstream saw nothing');
      assert.equal(d.gateway.childProcesses(), 0, 'no child started for the other route');
      // Positive control: alice on the replica that had never served the session.
      const served = await post(d, '/mcp', alice, readFile(22), session);
      assert.equal(served.status, 200, served.text);
      assert.equal(world.upstream.requests.length, seenBefore + 1);
    } finally {
      await fresh.close();
    }

    // DELETE on B ends it on A (the opener) and C (a copy) too.
    const deleted = await fetch(`${b.url}/mcp`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${alice}`, 'mcp-session-id': session },
    });
    assert.equal(deleted.status, 200, await deleted.text());
    assert.equal(world.upstream.requests.at(-1)?.method, 'DELETE');
    await until(
      () =>
        !a.gateway.sessions.holds(session, route(a) as never) &&
        !c.gateway.sessions.holds(session, route(c) as never),
    );
    const seenAfterDelete = world.upstream.requests.length;
    for (const replica of [a, b, c]) {
      const after = await post(replica, '/mcp', alice, readFile(30), session);
      assert.equal(after.status, 404, after.text);
    }
    assert.equal(world.upstream.requests.length, seenAfterDelete, 'nothing forwarded after DELETE');
  });

  it('a session of a stdio upstream stays on the replica that started the child', async () => {
    const [a, b] = replicas.all;
    assert.ok(a && b);
    const session = await openSession(a, '/stdio', alice);
    const elsewhere = await post(b, '/stdio', alice, readFile(40), session);
    assert.equal(elsewhere.status, 404, elsewhere.text);
    assert.equal(b.gateway.childProcesses(), 0, 'no child started on the other replica');
    // Positive control: the replica holding it answers.
    const home = await post(a, '/stdio', alice, readFile(41), session);
    assert.equal(home.status, 200, home.text);
    assert.match(home.text, /contents of \/r\/41/);
  });
});

/**
 * The SDK's Streamable HTTP server with an event store (resumable streams, priming events for
 * 2025-11-25 clients), on 127.0.0.1:0.
 */
async function startResumableUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? transports.get(id) : undefined;
    if (transport === undefined) {
      if (id !== undefined) {
        res.writeHead(404).end();
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: new InMemoryEventStore(),
        onsessioninitialized: (sessionId) => {
          transports.set(sessionId, created);
        },
      });
      await createTestMcpServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body === '' ? undefined : JSON.parse(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      for (const transport of transports.values()) await transport.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads server-sent events from a response until `done` says so, then stops reading. */
async function readEvents(
  response: Response,
  done: (events: { id?: string; data: string }[]) => boolean,
): Promise<{ id?: string; data: string }[]> {
  const events: { id?: string; data: string }[] = [];
  const reader = response.body?.getReader();
  assert.ok(reader);
  const decoder = new TextDecoder();
  let buffered = '';
  while (!done(events)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffered += decoder.decode(value, { stream: true });
    let end = buffered.indexOf('\n\n');
    while (end !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const id = /^id: ?(.*)$/m.exec(block)?.[1];
      const data = [...block.matchAll(/^data: ?(.*)$/gm)].map((match) => match[1]).join('\n');
      events.push({ ...(id === undefined ? {} : { id }), data });
      end = buffered.indexOf('\n\n');
    }
  }
  await reader.cancel();
  return events;
}

describe('a stream resumed on another replica', { skip: missing }, () => {
  const key = generateKey('ES256', 'resume-1');
  const erin = mint(key, 'erin');
  const world = replicaWorld(key, startResumableUpstream);
  let replicas: Replicas;

  before(async () => {
    replicas = await world.replicas({ count: 2, keyPrefix: 'resume:', rateLimit: 10_000 });
  });

  it('replays a tools/list answer filtered for the caller, though that replica never saw the request', async () => {
    const [a, b] = replicas.all;
    assert.ok(a && b);
    const version = '2025-11-25';
    const headers = (session?: string) => ({
      authorization: `Bearer ${erin}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': version,
      ...(session === undefined ? {} : { 'mcp-session-id': session }),
    });
    const send = (replica: RunningPortcullis, message: object, session?: string) =>
      fetch(`${replica.url}/mcp`, {
        method: 'POST',
        headers: headers(session),
        body: JSON.stringify({ jsonrpc: '2.0', ...message }),
      });
    const opened = await send(a, {
      ...INITIALIZE,
      params: { ...INITIALIZE.params, protocolVersion: version },
    });
    assert.equal(opened.status, 200);
    const session = opened.headers.get('mcp-session-id') ?? '';
    await readEvents(opened, (events) => events.some((event) => event.data.includes('result')));
    assert.equal((await send(a, INITIALIZED, session)).status, 202);

    // tools/list through A: its stream opens with a priming event, then the (filtered) answer.
    const listed = await send(a, { id: 7, method: 'tools/list' }, session);
    assert.equal(listed.status, 200);
    const onA = await readEvents(listed, (events) => events.some((e) => e.data.includes('tools')));
    const priming = onA.find((event) => event.data === '')?.id;
    assert.ok(priming, `a priming event: ${JSON.stringify(onA)}`);
    const namesOf = (data: string) =>
      (JSON.parse(data) as { result: { tools: { name: string }[] } }).result.tools
        .map((tool) => tool.name)
        .sort();
    const answerOnA = onA.find((event) => event.data.includes('tools'))?.data ?? '';
    assert.deepEqual(namesOf(answerOnA), ['pid', 'read_file', 'sleep', 'write_file']);

    // The client lost that stream after the priming event and resumes it through B.
    const resumed = await fetch(`${b.url}/mcp`, {
      headers: { ...headers(session), accept: 'text/event-stream', 'last-event-id': priming },
    });
    assert.equal(resumed.status, 200);
    const onB = await readEvents(resumed, (events) => events.some((e) => e.data.includes('tools')));
    const replayed = onB.find((event) => event.data.includes('tools'))?.data ?? '';
    assert.equal((JSON.parse(replayed) as { id: number }).id, 7, 'the answer to the request on A');
    assert.deepEqual(namesOf(replayed), ['pid', 'read_file', 'sleep', 'write_file']);
    assert.ok(!replayed.includes('admin_tool'), 'the unmapped tool stays hidden');
  });
});

describe('rate limits of replicas on one Redis', { skip: missing }, () => {
  const LIMIT = 5;
  const key = generateKey('ES256', 'limits-1');
  const stranger = generateKey('ES256', 'limits-1');
  const world = replicaWorld(key, () => startRecordingUpstream({ jsonResponse: true }));
  let replicas: Replicas;
  let probe: Redis;

  before(() => {
    probe = new Redis({ host: '127.0.0.1', port: world.redis.port, enableReadyCheck: false });
  });
  after(() => {
    probe?.disconnect();
  });

  /** Commands clients sent, as Redis counted them (less what scripts run inside, less INFO). */
  async function commandsSent(): Promise<Map<string, number>> {
    const calls = new Map<string, number>();
    const stats = await probe.info('commandstats');
    for (const match of stats.matchAll(/^cmdstat_([a-z|-]+):calls=(\d+)/gm)) {
      if (!['incr', 'pttl', 'pexpire', 'info'].includes(match[1] ?? '')) {
        calls.set(match[1] ?? '', Number(match[2]));
      }
    }
    return calls;
  }

  it('one round trip per request; the address screened before token work and counted by refused tokens', async () => {
    replicas = await world.replicas({ count: 2, keyPrefix: 'limits:', rateLimit: 1000 });
    const [a] = replicas.all;
    assert.ok(a);
    const carol = mint(key, 'carol');
    const session = await openSession(a, '/mcp', carol);
    const before = await commandsSent();
    const N = 20;
    for (let index = 0; index < N; index++) {
      const answer = await post(a, '/mcp', carol, readFile(100 + index), session);
      assert.equal(answer.status, 200, answer.text);
    }
    const after = await commandsSent();
    const sent = [...after].map(([name, count]) => [name, count - (before.get(name) ?? 0)]);
    const total = sent.reduce((sum, [, count]) => sum + Number(count), 0);
    assert.deepEqual(
      sent.filter(([, count]) => Number(count) > 0),
      [['evalsha', N]],
      'one script per request, nothing else',
    );
    assert.equal(total, N);
    await replicas.close();
  });

  it('a flood of bad tokens: screened in memory after the limit, its address counted in Redis for every replica', async () => {
    replicas = await world.replicas({ count: 2, keyPrefix: 'flood:', rateLimit: LIMIT });
    const [a, b] = replicas.all;
    assert.ok(a && b);
    const forged = mint(stranger, 'mallory');
    const seenBefore = world.upstream.requests.length;
    const onA: number[] = [];
    for (let index = 0; index < LIMIT + 3; index++) {
      onA.push((await post(a, '/mcp', forged, INITIALIZE)).status);
    }
    assert.deepEqual(onA, [
      ...Array.from({ length: LIMIT }, () => 401),
      ...Array.from({ length: 3 }, () => 429),
    ]);
    // B has screened nothing from this address yet, but Redis counted the refused tokens: even
    // a valid token is refused there.
    const good = await post(b, '/mcp', mint(key, 'dave'), INITIALIZE);
    assert.equal(good.status, 429, good.text);
    assert.equal(world.upstream.requests.length, seenBefore, 'the upstream saw nothing');
    await replicas.close();

    // Positive control: under the limit, a valid token opens a session.
    replicas = await world.replicas({ count: 1, keyPrefix: 'flood-control:', rateLimit: LIMIT });
    const [only] = replicas.all;
    assert.ok(only);
    await openSession(only, '/mcp', mint(key, 'dave'));
  });
});
