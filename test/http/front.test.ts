import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import {
  INITIALIZE,
  mcpHeaders,
  openSession,
  rawExchange,
  request,
  toolCall,
} from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * HT- family (docs/security-cases.md): the HTTP front on real sockets. Each case writes raw bytes
 * and asserts the status, the error code and that the upstream received nothing; the table ends
 * with a positive control.
 */

interface RawCase {
  readonly id: string;
  readonly name: string;
  readonly bytes: (host: string) => string;
  readonly status: number;
  /** Error code in the body, when the gateway (not only Node's parser) answered. */
  readonly code?: string;
  readonly closes?: boolean;
}

const CRLF = '\r\n';
const body = INITIALIZE;
const head = (host: string, lines: string[], method = 'POST', target = '/mcp', version = '1.1') =>
  [
    `${method} ${target} HTTP/${version}`,
    ...(host === '' ? [] : [`Host: ${host}`]),
    ...lines,
    '',
    '',
  ].join(CRLF);
const jsonLines = ['Content-Type: application/json', 'Accept: application/json, text/event-stream'];

const cases: RawCase[] = [
  {
    id: 'HT-01',
    name: 'Content-Length with Transfer-Encoding',
    bytes: (h) =>
      head(h, [...jsonLines, `Content-Length: ${body.length}`, 'Transfer-Encoding: chunked']) +
      body,
    status: 400,
    closes: true,
  },
  {
    id: 'HT-02',
    name: 'two Content-Length lines',
    bytes: (h) =>
      head(h, [...jsonLines, `Content-Length: ${body.length}`, `Content-Length: ${body.length}`]) +
      body,
    status: 400,
    closes: true,
  },
  {
    id: 'HT-03',
    name: 'space before the colon of Transfer-Encoding',
    bytes: (h) => `${head(h, [...jsonLines, 'Transfer-Encoding : chunked'])}0${CRLF}${CRLF}`,
    status: 400,
    closes: true,
  },
  {
    id: 'HT-03',
    name: 'obs-fold continuation line',
    bytes: (h) => head(h, [...jsonLines, 'X-Folded: a', ' b', 'Content-Length: 0']),
    status: 400,
    closes: true,
  },
  {
    id: 'HT-05',
    name: 'one header larger than the header cap',
    bytes: (h) => head(h, [...jsonLines, `X-Big: ${'a'.repeat(17 * 1024)}`, 'Content-Length: 0']),
    status: 431,
    closes: true,
  },
  {
    id: 'HT-06',
    name: '101 tiny headers (over max_header_count, counted by the gateway)',
    bytes: (h) =>
      head(h, [
        ...jsonLines,
        ...Array.from({ length: 101 }, (_, i) => `X-H${i}: a`),
        `Content-Length: ${body.length}`,
      ]) + body,
    status: 431,
    code: 'RequestHeadersTooLarge',
  },
  {
    id: 'HT-07',
    name: 'two Host lines',
    bytes: (h) => head(h, [`Host: ${h}`, ...jsonLines, `Content-Length: ${body.length}`]) + body,
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'HT-07',
    name: 'no Host on HTTP/1.1',
    bytes: () => head('', [...jsonLines, `Content-Length: ${body.length}`]) + body,
    status: 400,
  },
  {
    id: 'HT-07',
    name: 'no Host on HTTP/1.0',
    bytes: () =>
      head('', [...jsonLines, `Content-Length: ${body.length}`], 'POST', '/mcp', '1.0') + body,
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'HT-08',
    name: 'absolute-form target naming another authority',
    bytes: (h) =>
      head(h, [...jsonLines, `Content-Length: ${body.length}`], 'POST', 'http://evil.example/mcp') +
      body,
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'HT-09',
    name: 'Content-Length above the body cap, refused before reading (no 100 Continue)',
    bytes: (h) => head(h, [...jsonLines, 'Content-Length: 2000000', 'Expect: 100-continue']),
    status: 413,
    code: 'RequestBodyTooLarge',
    closes: true,
  },
  {
    id: 'HT-09',
    name: 'chunked body crossing the body cap',
    bytes: (h) => {
      const chunk = 'a'.repeat(64 * 1024);
      const chunks = Array.from(
        { length: 20 },
        () => `${chunk.length.toString(16)}${CRLF}${chunk}${CRLF}`,
      );
      return `${head(h, [...jsonLines, 'Transfer-Encoding: chunked'])}${chunks.join('')}0${CRLF}${CRLF}`;
    },
    status: 413,
    code: 'RequestBodyTooLarge',
    closes: true,
  },
  {
    id: 'HT-16',
    name: 'a refused request followed by a smuggled one in the same packet: connection closed',
    bytes: (h) =>
      head(h, [...jsonLines, 'Content-Length: 5', 'Transfer-Encoding: chunked']) +
      `0${CRLF}${CRLF}${head(h, [...jsonLines, `Content-Length: ${body.length}`])}${body}`,
    status: 400,
    closes: true,
  },
  {
    id: 'HT-18',
    name: 'TRACE',
    bytes: (h) => head(h, [], 'TRACE'),
    status: 405,
    code: 'MethodNotAllowed',
  },
  {
    id: 'HT-18',
    name: 'CONNECT',
    bytes: (h) => head(h, [], 'CONNECT', h),
    status: 405,
    closes: true,
  },
  {
    id: 'HT-21',
    name: 'duplicate Mcp-Session-Id',
    bytes: (h) =>
      head(h, [
        ...jsonLines,
        'Mcp-Session-Id: a',
        'Mcp-Session-Id: b',
        `Content-Length: ${body.length}`,
      ]) + body,
    status: 400,
    code: 'RequestMalformed',
  },
];

describe('HTTP front on raw sockets (HT- family)', () => {
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  let port: number;
  let host: string;

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
    );
    port = gateway.running.port;
    host = `127.0.0.1:${port}`;
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const testCase of cases) {
    it(`${testCase.id}: ${testCase.name}`, async () => {
      const before = upstream.requests.length;
      const reply = await rawExchange(port, testCase.bytes(host), { waitMs: 2000 });
      assert.equal(reply.status, testCase.status, reply.text.slice(0, 300));
      assert.doesNotMatch(reply.text, /^HTTP\/1\.1 100/);
      if (testCase.code !== undefined)
        assert.match(reply.text, new RegExp(`"code":"${testCase.code}"`));
      if (testCase.closes) assert.ok(reply.closed, 'the connection is closed');
      assert.equal(reply.text.match(/^HTTP\/1\.1 /gm)?.length, 1, 'exactly one response');
      assert.equal(upstream.requests.length, before, 'the upstream received nothing');
    });
  }

  it('positive control: a well-formed initialize on a raw socket is served', async () => {
    const before = upstream.requests.length;
    const reply = await rawExchange(
      port,
      head(host, [...jsonLines, `Content-Length: ${body.length}`, 'Connection: close']) + body,
    );
    assert.equal(reply.status, 200, reply.text.slice(0, 300));
    assert.match(reply.text, /mcp-session-id: [A-Za-z0-9_-]{32}/i);
    assert.equal(upstream.requests.length, before + 1);
  });

  it('keeps a valid X-Request-Id and replaces anything else', async () => {
    const id = '0b5f8a3e-7c1d-4e2f-9a6b-1c2d3e4f5a6b';
    const kept = await request(gateway.url('/healthz'), {
      method: 'GET',
      headers: { 'x-request-id': id },
    });
    assert.equal(kept.headers['x-request-id'], id);
    const replaced = await request(gateway.url('/healthz'), {
      method: 'GET',
      headers: { 'x-request-id': 'drop table; --' },
    });
    assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  });
});

describe('slow clients (HT-11, HT-12)', () => {
  let gateway: TestGateway;
  let upstream: RecordingUpstream;

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [httpUpstream(upstream.url)],
        remoteMcp: { header_timeout_seconds: 1, request_timeout_seconds: 2 },
      }),
    );
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('disconnects a client that sends its headers one line at a time, with 408', async () => {
    const host = `127.0.0.1:${gateway.running.port}`;
    const lines = [`POST /mcp HTTP/1.1${CRLF}`, `Host: ${host}${CRLF}`];
    for (let i = 0; i < 40; i += 1) lines.push(`X-Slow-${i}: ${i}${CRLF}`);
    const reply = await rawExchange(gateway.running.port, lines, { gapMs: 300, waitMs: 5000 });
    assert.ok(reply.closed, 'the server closed the connection');
    assert.equal(reply.status, 408, reply.text);
    assert.match(reply.text, /"code":"RequestTimeout"/);
    assert.equal(upstream.requests.length, 0);
  });

  it('disconnects a client that sends its body a byte at a time, with 408', async () => {
    const host = `127.0.0.1:${gateway.running.port}`;
    const start = head(host, [...jsonLines, `Content-Length: ${body.length}`]);
    const parts = [start, ...body.split('')];
    const reply = await rawExchange(gateway.running.port, parts, { gapMs: 200, waitMs: 5000 });
    assert.ok(reply.closed, 'the server closed the connection');
    assert.equal(reply.status, 408, reply.text);
    assert.equal(upstream.requests.length, 0);
  });
});

/** Waits until the server holds exactly `count` connections (no fixed sleeps). */
async function connectionsReach(gateway: TestGateway, count: number): Promise<void> {
  for (;;) {
    const current = await new Promise<number>((resolve, reject) =>
      gateway.running.server.getConnections((error, value) =>
        error ? reject(error) : resolve(value),
      ),
    );
    if (current === count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('connection cap (HT-14) on real sockets', () => {
  it('answers 503 with Retry-After and closes connections beyond max_connections', async () => {
    const upstream = await startRecordingUpstream();
    const gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [httpUpstream(upstream.url)],
        remoteMcp: { max_connections: 2 },
      }),
    );
    const port = gateway.running.port;
    const idle: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        const socket = net.connect(port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        idle.push(socket);
      }
      await connectionsReach(gateway, 2);
      const host = `127.0.0.1:${port}`;
      const refused = await rawExchange(
        port,
        head(host, [...jsonLines, `Content-Length: ${body.length}`]) + body,
      );
      assert.equal(refused.status, 503, refused.text);
      assert.match(refused.text, /retry-after: 1/i);
      assert.match(refused.text, /"code":"CapacityExceeded"/);
      assert.ok(refused.closed, 'the connection is closed');
      assert.equal(upstream.requests.length, 0);

      for (const socket of idle) socket.destroy();
      await connectionsReach(gateway, 0);
      // Positive control: with the idle connections gone, a new one is served.
      const served = await rawExchange(
        port,
        head(host, [...jsonLines, `Content-Length: ${body.length}`, 'Connection: close']) + body,
      );
      assert.equal(served.status, 200, served.text);
    } finally {
      for (const socket of idle) socket.destroy();
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('rate limits (HT-15) on real sockets', () => {
  let upstream: RecordingUpstream;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [httpUpstream(upstream.url)],
        remoteMcp: {
          rate_limit_max_requests: 4,
          rate_limit_window_seconds: 60,
          trusted_proxies: [],
        },
      }),
    );
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('answers 429 with Retry-After once an address spends its window, spoofed X-Forwarded-For or not', async () => {
    const session = await openSession(gateway.url()); // 2 requests
    const send = (forwardedFor: string) =>
      request(gateway.url(), {
        headers: mcpHeaders({ 'mcp-session-id': session, 'x-forwarded-for': forwardedFor }),
        body: toolCall('read_file', { path: 'x' }),
      });
    assert.equal((await send('198.51.100.1')).status, 200);
    assert.equal((await send('198.51.100.2')).status, 200);
    const before = upstream.requests.length;
    const limited = await send('198.51.100.3');
    assert.equal(limited.status, 429);
    assert.equal(limited.json?.code, 'RateLimited');
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
    assert.ok(Number(limited.headers['retry-after']) <= 60);
    assert.equal(upstream.requests.length, before, 'the upstream received nothing');
  });
});

describe('rate limits per session and per subject, behind a trusted proxy', () => {
  it('believes X-Forwarded-For only from trusted_proxies, and still limits the session', async () => {
    const upstream = await startRecordingUpstream();
    const gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [httpUpstream(upstream.url)],
        remoteMcp: { rate_limit_max_requests: 3, trusted_proxies: ['127.0.0.1/32'] },
      }),
    );
    try {
      let client = 0;
      const nextAddress = () => {
        client += 1;
        return `198.51.100.${client}`;
      };
      // Each request comes from a different client address (through the trusted proxy), so only
      // the session counter can stop them.
      const session = await openSession(gateway.url(), { 'x-forwarded-for': nextAddress() });
      const send = () =>
        request(gateway.url(), {
          headers: mcpHeaders({ 'mcp-session-id': session, 'x-forwarded-for': nextAddress() }),
          body: toolCall('read_file', { path: 'x' }),
        });
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await send()).status);
      // The session's first request was notifications/initialized: 1 + 2 allowed, then 429.
      assert.deepEqual(statuses, [200, 200, 429, 429]);
      // Positive control: a new session from yet another address is served.
      const fresh = await openSession(gateway.url(), { 'x-forwarded-for': nextAddress() });
      assert.match(fresh, /^[A-Za-z0-9_-]{32}$/);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('rate limit per token subject', () => {
  it('counts every request of a subject, across sessions and addresses', async () => {
    const verifier = new TestDoubleVerifier();
    const upstream = await startRecordingUpstream();
    const gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        upstreams: [httpUpstream(upstream.url)],
        remoteMcp: { rate_limit_max_requests: 5, trusted_proxies: ['127.0.0.1/32'] },
      }),
      { auth: testDoubleAuth(verifier) },
    );
    try {
      let client = 0;
      const address = () => {
        client += 1;
        return `198.51.100.${client}`;
      };
      const alice = { authorization: `Bearer ${verifier.issue('alice', ['files:read'])}` };
      // Two sessions of alice: 2 requests each.
      await openSession(gateway.url(), { ...alice, 'x-forwarded-for': address() });
      const second = await openSession(gateway.url(), { ...alice, 'x-forwarded-for': address() });
      const call = (headers: Record<string, string>) =>
        request(gateway.url(), {
          headers: mcpHeaders({ ...headers, 'x-forwarded-for': address() }),
          body: toolCall('read_file', { path: 'x' }),
        });
      assert.equal((await call({ ...alice, 'mcp-session-id': second })).status, 200);
      const limited = await call({ ...alice, 'mcp-session-id': second });
      assert.equal(limited.status, 429);
      assert.equal(limited.json?.code, 'RateLimited');
      // Positive control: another subject is not affected.
      const bob = { authorization: `Bearer ${verifier.issue('bob', ['files:read'])}` };
      const bobSession = await openSession(gateway.url(), { ...bob, 'x-forwarded-for': address() });
      assert.equal((await call({ ...bob, 'mcp-session-id': bobSession })).status, 200);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
