import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { AuditSink, FileAuditBackend, verifyAuditTrail } from '../../src/audit/index.ts';
import { traceContextOf } from '../../src/proxy/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  gatewayDocument,
  httpUpstream,
  loadTestConfig,
  memoryLogger,
  startTestGateway,
  stdioTestUpstream,
} from '../helpers/gateway.ts';
import { mcpHeaders, openSession, type Reply, request, toolCall } from '../helpers/http-client.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

/**
 * Metrics, health and readiness of the real gateway over real sockets: /metrics scraped over
 * HTTP and read with a Prometheus text-format parser, the admin listener, /readyz following the
 * audit sink, the key set and the upstreams, and W3C trace context passed to HTTP upstreams.
 */

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const reply = await request(url, { method: 'GET' });
  assert.equal(reply.status, 200, reply.body);
  assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(reply.body) as Family[];
  return new Map(families.map((family) => [family.name, family]));
}

function sample(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = families
    .get(name)
    ?.metrics.find((m) =>
      Object.entries(labels).every(([key, value]) => m.labels?.[key] === value),
    );
  return Number(found?.value ?? 0);
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const get = (url: string, headers: Record<string, string> = {}): Promise<Reply> =>
  request(url, { method: 'GET', headers });

describe('/metrics and /readyz with auth: oauth and a real key set', () => {
  const ISSUER = 'https://issuer.metrics.example';
  let jwks: LoopbackServer;
  let jwksUp = false;
  let privateKey: CryptoKey;
  let upstream: RecordingUpstream;
  let gateway: RunningPortcullis;
  let resource: string;
  let sink: AuditSink;

  const token = (scope = 'files:read') =>
    new SignJWT({ scope, client_id: 'metrics-client' })
      .setProtectedHeader({ alg: 'ES256', kid: 'm-1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(resource)
      .setSubject('alice')
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'm-1', alg: 'ES256' };
    jwks = await startLoopbackServer({
      '/jwks.json': (_request, response) =>
        jwksUp ? json(response, 200, { keys: [publicJwk] }) : json(response, 503, {}),
    });
    upstream = await startRecordingUpstream({ jsonResponse: true });
    const loaded = loadTestConfig({
      ...gatewayDocument({
        auth: 'oauth',
        remoteMcp: { issuer: ISSUER, jwks_url: `${jwks.origin}/jwks.json` },
        upstreams: [httpUpstream(upstream.url)],
      }),
      development: { allow_loopback_urls: true },
    });
    const { logger } = memoryLogger();
    sink = new AuditSink(new FileAuditBackend(join(tempDir(), 'audit.jsonl'), 1_000_000));
    // The issuer is down at start: the gateway serves anyway, and is not ready.
    gateway = await startPortcullis(loaded, { logger, audit: sink });
    resource = gateway.gateway.routes.routes[0]?.resource ?? '';
  });

  after(async () => {
    await gateway?.close();
    await sink?.close();
    await upstream?.close();
    await jwks?.close();
  });

  it('/readyz is 503 until the key set loads, then 200; /healthz is 200 throughout', async () => {
    const notReady = await get(`${gateway.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal(notReady.json?.status, 'not_ready');
    const checks = notReady.json?.checks as Record<string, string>;
    assert.match(checks.token_keys ?? '', /^FAILING: key set not loaded/);
    assert.equal(checks.audit, 'writable');
    assert.equal(checks['upstream:files'], 'reachable');
    assert.equal((await get(`${gateway.url}/healthz`)).status, 200);
    jwksUp = true;
    // Readiness itself starts the retry (the key source spaces attempts out).
    await eventually(
      async () => (await get(`${gateway.url}/readyz`)).status === 200,
      'the key set to load',
    );
    const ready = await get(`${gateway.url}/readyz`);
    assert.deepEqual(ready.json, {
      status: 'ready',
      checks: { audit: 'writable', token_keys: 'loaded', 'upstream:files': 'reachable' },
    });
  });

  it('a scrape over HTTP parses, and the counters move with the traffic', async () => {
    const metricsUrl = `${gateway.url}/metrics`;
    const before = await scrape(metricsUrl);
    const allowed = { upstream: 'files', method: 'tools/call', decision: 'allow', status: '200' };
    assert.equal(sample(before, 'portcullis_requests_total', allowed), 0);

    const accessToken = await token();
    const auth = { authorization: `Bearer ${accessToken}` };
    const session = await openSession(`${gateway.url}/mcp`, auth);
    for (const id of [1, 2]) {
      const reply = await request(`${gateway.url}/mcp`, {
        headers: mcpHeaders({ ...auth, 'mcp-session-id': session }),
        body: toolCall('read_file', { path: 'a' }, id),
      });
      assert.equal(reply.status, 200);
    }
    const denied = await request(`${gateway.url}/mcp`, {
      headers: mcpHeaders({ authorization: 'Bearer not.a.token', 'mcp-session-id': session }),
      body: toolCall('read_file'),
    });
    assert.equal(denied.status, 401);

    const after = await scrape(metricsUrl);
    assert.equal(after.get('portcullis_requests_total')?.type, 'COUNTER');
    assert.equal(sample(after, 'portcullis_requests_total', allowed), 2);
    assert.equal(
      sample(after, 'portcullis_requests_total', {
        method: 'initialize',
        decision: 'allow',
        status: '200',
      }),
      1,
    );
    assert.equal(
      sample(after, 'portcullis_requests_total', { decision: 'deny', status: '401' }),
      1,
    );
    const overhead = after.get('portcullis_gateway_overhead_seconds');
    assert.equal(overhead?.type, 'HISTOGRAM');
    assert.ok(Number(overhead?.metrics[0]?.buckets?.['+Inf']) >= 4);
    const upstreamTime = after.get('portcullis_upstream_duration_seconds');
    assert.ok(Number(upstreamTime?.metrics[0]?.buckets?.['+Inf']) >= 4, 'forwarded requests');
    // The first use of the token is verified cold, later ones come from the cache.
    assert.ok(
      sample(after, 'portcullis_token_verifications_total', { outcome: 'ok', cached: 'true' }) >= 2,
    );
    assert.ok(
      sample(after, 'portcullis_token_verifications_total', {
        outcome: 'AuthTokenInvalid',
        cached: 'false',
      }) >= 1,
    );
    assert.ok(sample(after, 'portcullis_token_cache_hit_ratio') > 0);
    assert.ok(sample(after, 'portcullis_jwks_fetches_total', { outcome: 'ok' }) >= 1);
    assert.ok(sample(after, 'portcullis_jwks_fetches_total', { outcome: 'error' }) >= 1);
    assert.equal(sample(after, 'portcullis_sessions'), 1);
    assert.ok(sample(after, 'portcullis_open_connections') >= 1);
    assert.equal(sample(after, 'portcullis_child_processes'), 0);
    assert.equal(sample(after, 'portcullis_audit_sink_healthy'), 1);
    // Scrapes and probes are not requests of the MCP traffic.
    assert.equal(sample(after, 'portcullis_requests_total', { method: 'GET', upstream: '' }), 0);
  });

  it('a client-chosen JSON-RPC method does not become a label', async () => {
    const auth = { authorization: `Bearer ${await token()}` };
    const session = await openSession(`${gateway.url}/mcp`, auth);
    const reply = await request(`${gateway.url}/mcp`, {
      headers: mcpHeaders({ ...auth, 'mcp-session-id': session }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'x/unbounded-label-1234' }),
    });
    assert.equal(reply.status, 403);
    const families = await scrape(`${gateway.url}/metrics`);
    const methods = families.get('portcullis_requests_total')?.metrics.map((m) => m.labels?.method);
    assert.ok(methods?.includes('other'));
    assert.ok(!methods?.some((method) => method?.includes('unbounded')));
  });
});

describe('admin listener (remote_mcp.admin_bind_address)', () => {
  let upstream: RecordingUpstream;
  let gateway: Awaited<ReturnType<typeof startTestGateway>>;
  let admin: string;

  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        // Clients reach this gateway through a proxy at a public origin: no /metrics here.
        remoteMcp: {
          public_url: 'https://gateway.example.com',
          admin_bind_address: '127.0.0.1:0',
          rate_limit_max_requests: 3,
        },
        upstreams: [httpUpstream(upstream.url)],
      }),
    );
    admin = gateway.running.adminUrl ?? '';
    assert.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('serves /metrics, /healthz and /readyz; the public listener serves no /metrics', async () => {
    // Straight to the loopback socket, as a local client that no proxy relays.
    const local = `http://127.0.0.1:${gateway.running.port}`;
    assert.equal((await get(`${local}/metrics`)).status, 404);
    assert.equal((await get(`${local}/metrics`, { host: 'gateway.example.com' })).status, 404);
    assert.equal((await get(`${admin}/healthz`)).status, 200);
    const ready = await get(`${admin}/readyz`);
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(ready.json?.checks, {
      audit: 'not configured',
      'upstream:files': 'reachable',
    });
    // The address limit is 3: the fourth request is refused, and counted.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await request(`${local}/mcp`, { headers: mcpHeaders(), body: '{}' })).status);
    }
    assert.equal(statuses.at(-1), 429);
    const families = await scrape(`${admin}/metrics`);
    assert.equal(sample(families, 'portcullis_rate_limit_refusals_total', { scope: 'address' }), 1);
    assert.equal(
      sample(families, 'portcullis_requests_total', { decision: 'deny', status: '429' }),
      1,
    );
  });

  const refusals: { name: string; send: () => Promise<Reply>; status: number; code: string }[] = [
    {
      name: 'a browser request (Origin)',
      send: () => get(`${admin}/metrics`, { origin: 'http://127.0.0.1' }),
      status: 403,
      code: 'RequestOriginForbidden',
    },
    {
      name: 'a DNS-rebound Host',
      send: () => get(`${admin}/metrics`, { host: 'attacker.example:80' }),
      status: 403,
      code: 'RequestOriginForbidden',
    },
    {
      name: 'POST',
      send: () => request(`${admin}/metrics`, { body: '' }),
      status: 405,
      code: 'MethodNotAllowed',
    },
    {
      name: 'an MCP path',
      send: () => request(`${admin}/mcp`, { method: 'GET' }),
      status: 404,
      code: 'RouteNotFound',
    },
  ];
  for (const refusal of refusals) {
    it(`admin listener refuses ${refusal.name}: ${refusal.status}`, async () => {
      const before = upstream.requests.length;
      const reply = await refusal.send();
      assert.equal(reply.status, refusal.status);
      assert.equal(reply.json?.code, refusal.code);
      assert.equal(upstream.requests.length, before);
    });
  }

  it('positive control: Prometheus-style scrape by loopback address', async () => {
    const reply = await get(`${admin}/metrics`);
    assert.equal(reply.status, 200);
    assert.match(reply.body, /^# HELP portcullis_/m);
  });
});

describe('/readyz follows the audit sink (audit.on_write_failure)', () => {
  let upstream: RecordingUpstream;

  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
  });
  after(async () => {
    await upstream?.close();
  });

  it('refuse: 503 AuditUnavailable and /readyz 503 while the directory is gone, 200 once back', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const path = join(auditDir, 'audit.jsonl');
    const { logger, logs } = memoryLogger();
    const sink = new AuditSink(new FileAuditBackend(path, 1_000_000), {
      retryMs: 50,
      logger,
      onWriteFailure: 'refuse',
    });
    const gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
      { audit: sink },
    );
    try {
      const session = await openSession(gateway.url());
      assert.equal(await sink.flush(), true);
      assert.equal((await get(gateway.url('/readyz'))).status, 200);

      // The audit directory is replaced by a file: the next write fails.
      rmSync(auditDir, { recursive: true });
      writeFileSync(auditDir, 'not a directory');
      const call = () =>
        request(gateway.url(), {
          headers: mcpHeaders({ 'mcp-session-id': session }),
          body: toolCall('read_file', { path: 'a' }),
        });
      assert.equal((await call()).status, 200, 'served: the sink does not know yet');
      await eventually(async () => !sink.healthy, 'the sink to notice');

      const notReady = await get(gateway.url('/readyz'));
      assert.equal(notReady.status, 503);
      assert.equal(
        (notReady.json?.checks as Record<string, string> | undefined)?.audit,
        'FAILING: cannot write; refusing requests',
      );
      const before = upstream.requests.length;
      const refused = await call();
      assert.equal(refused.status, 503);
      assert.equal(refused.json?.code, 'AuditUnavailable');
      assert.equal(refused.headers['retry-after'], '5');
      assert.equal(upstream.requests.length, before, 'nothing served unaudited');
      assert.ok(
        logs.some((line) => String(line.msg).includes('audit sink cannot write: refusing')),
        'said so in the logs',
      );
      assert.equal((await get(gateway.url('/healthz'))).status, 200, 'still alive');

      // The directory comes back: the sink retries, writes what it kept, and recovers.
      rmSync(auditDir);
      mkdirSync(auditDir);
      await eventually(async () => (await get(gateway.url('/readyz'))).status === 200, 'ready');
      assert.equal((await call()).status, 200);
      assert.equal(await sink.flush(), true);
      const records = readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        records.map((record) => [record.event, record.reason ?? null]),
        [
          ['mcp.request.allowed', null],
          ['http.request.refused', 'AuditUnavailable'],
          ['audit.sink.recovered', records[2]?.reason],
          ['mcp.request.allowed', null],
        ],
        'the records kept while failing are written; the recovery is recorded',
      );
      assert.match(String(records[2]?.reason), /ENOTDIR|ENOENT|not a directory/i);
      assert.equal(verifyAuditTrail(path).ok, true, 'no gap in the chain');
    } finally {
      await gateway.close();
      await sink.close();
    }
  });

  it('continue: serves and logs, /readyz stays 200 and says so', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const { logger, logs } = memoryLogger();
    const sink = new AuditSink(new FileAuditBackend(join(auditDir, 'audit.jsonl'), 1_000_000), {
      retryMs: 50,
      logger,
      onWriteFailure: 'continue',
    });
    const document = gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] });
    const gateway = await startTestGateway(
      { ...document, audit: { on_write_failure: 'continue' } },
      { audit: sink },
    );
    try {
      rmSync(auditDir, { recursive: true });
      writeFileSync(auditDir, 'not a directory');
      await openSession(gateway.url());
      await eventually(async () => !sink.healthy, 'the sink to notice');
      const before = upstream.requests.length;
      await openSession(gateway.url());
      assert.equal(upstream.requests.length, before + 2, 'served');
      const ready = await get(gateway.url('/readyz'));
      assert.equal(ready.status, 200);
      assert.match(
        (ready.json?.checks as Record<string, string> | undefined)?.audit ?? '',
        /serving unaudited/,
      );
      assert.ok(logs.some((line) => String(line.msg).includes('serving UNAUDITED')));
    } finally {
      await gateway.close();
      rmSync(auditDir);
      await sink.close();
    }
  });
});

describe('/readyz checks the upstreams', () => {
  it('an unreachable HTTP upstream and a stdio command that cannot start fail readiness', async () => {
    const upstream = await startRecordingUpstream();
    const down = await closedPort();
    const gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [
          httpUpstream(upstream.url),
          httpUpstream(`http://127.0.0.1:${down}/mcp`, { name: 'down', path: '/down' }),
          stdioTestUpstream({ name: 'local', path: '/local' }),
          stdioTestUpstream({ name: 'missing', path: '/missing', command: 'no-such-mcp-server' }),
        ],
      }),
    );
    try {
      const reply = await get(gateway.url('/readyz'));
      assert.equal(reply.status, 503);
      assert.deepEqual(reply.json, {
        status: 'not_ready',
        checks: {
          audit: 'not configured',
          'upstream:files': 'reachable',
          'upstream:down': 'FAILING: unreachable',
          'upstream:local': 'startable',
          'upstream:missing': 'FAILING: command not found or not executable',
        },
      });
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('W3C trace context to HTTP upstreams', () => {
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const table: { name: string; headers: Record<string, string>; forwarded: string | undefined }[] =
    [
      {
        name: 'uppercase hex',
        headers: { traceparent: parent.toUpperCase() },
        forwarded: undefined,
      },
      {
        name: 'all-zero trace id',
        headers: { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` },
        forwarded: undefined,
      },
      {
        name: 'all-zero parent id',
        headers: { traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01` },
        forwarded: undefined,
      },
      {
        name: 'version ff',
        headers: { traceparent: `ff${parent.slice(2)}` },
        forwarded: undefined,
      },
      { name: 'trailing data', headers: { traceparent: `${parent}-x` }, forwarded: undefined },
      {
        name: 'header injection attempt',
        headers: { traceparent: `${parent} ,x` },
        forwarded: undefined,
      },
      { name: 'positive control', headers: { traceparent: parent }, forwarded: parent },
    ];

  let upstream: RecordingUpstream;
  let gateway: Awaited<ReturnType<typeof startTestGateway>>;
  let session: string;
  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
    gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
    );
    session = await openSession(gateway.url());
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const row of table) {
    it(`${row.forwarded ? 'passes' : 'drops'} traceparent: ${row.name}`, async () => {
      const reply = await request(gateway.url(), {
        headers: mcpHeaders({ 'mcp-session-id': session, ...row.headers }),
        body: toolCall('read_file', { path: 'a' }),
      });
      assert.equal(reply.status, 200);
      const received = upstream.requests.at(-1);
      assert.equal(received?.headers.traceparent, row.forwarded);
    });
  }

  it('tracestate goes along only when well-formed', () => {
    const ok = traceContextOf({ traceparent: parent, tracestate: 'congo=t61rcWkgMzE, rojo=00f0' });
    assert.equal(ok?.tracestate, 'congo=t61rcWkgMzE,rojo=00f0');
    assert.equal(
      traceContextOf({ traceparent: parent, tracestate: 'no equals' })?.tracestate,
      undefined,
    );
    assert.equal(
      traceContextOf({ traceparent: parent, tracestate: `a=${'x'.repeat(600)}` })?.tracestate,
      undefined,
    );
    assert.equal(traceContextOf({ tracestate: 'a=b' }), undefined, 'never without traceparent');
  });
});
