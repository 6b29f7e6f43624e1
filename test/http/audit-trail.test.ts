import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditSink, FileAuditBackend, verifyAuditTrail } from '../../src/audit/index.ts';
import {
  MemoryRateLimiter,
  type RateLimitDecision,
  type RateLimiter,
} from '../../src/proxy/index.ts';
import type { VerifiedToken } from '../../src/resource-server/verifier.ts';
import { tempDir } from '../helpers/cli.ts';
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
  type Reply,
  request,
  type TestHeaders,
  toolCall,
} from '../helpers/http-client.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * The audit trail of the real gateway, through real sockets: every decision path writes exactly one
 * record with the fields of docs/audit-events.md, refusals leave the upstream untouched, and no
 * record ever holds a token. Token verification is the test-double verifier (this is about the
 * gateway's decisions); the upstream is the recording SDK server.
 */

type AuditRecord = Record<string, unknown>;

/** A verifier whose token `explode` breaks its contract (throws a non-RequestError). */
class ExplodingVerifier extends TestDoubleVerifier {
  override async verify(token: string): Promise<VerifiedToken> {
    if (token === 'explode') throw new Error('the verifier broke');
    return super.verify(token);
  }
}

/** Generous limits, except for the subject `limited`, which is always over its limit. */
class SubjectLimiter implements RateLimiter {
  readonly #inner = new MemoryRateLimiter({ maxRequests: 1_000_000, windowSeconds: 60 });
  async consume(key: string): Promise<RateLimitDecision> {
    if (key === 'subject:limited') return { allowed: false, remaining: 0, retryAfterSeconds: 7 };
    return this.#inner.consume(key);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A JWT-shaped string, to check that token redaction reaches tool arguments too. */
const JWT_LIKE =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6ImEifQ.eyJzdWIiOiJib2IiLCJqdGkiOiJqLTEifQ.c2lnLWJ5dGVzLXNlY3JldA';

interface Context {
  readonly gateway: TestGateway;
  readonly readToken: string;
  readonly bobToken: string;
  readonly limitedToken: string;
  readonly session: string;
}

interface Case {
  readonly name: string;
  readonly send: (c: Context) => Promise<Reply>;
  readonly event: string;
  readonly decision: 'allow' | 'deny' | 'error';
  readonly reason: string | undefined;
  readonly status: number;
  /** True when the recording upstream is expected to receive the request. */
  readonly reachesUpstream?: boolean;
  readonly check?: (record: AuditRecord, c: Context, reply: Reply) => void;
}

const post = (c: Context, body: string, headers: TestHeaders = {}, path = '/mcp') =>
  request(c.gateway.url(), {
    target: path,
    headers: mcpHeaders({
      authorization: `Bearer ${c.readToken}`,
      'mcp-session-id': c.session,
      ...headers,
    }),
    body,
  });

const who = (record: AuditRecord, c: Context) => {
  assert.equal(record.subject, 'alice');
  assert.equal(record.client_id, 'test-client');
  assert.match(String(record.token_id_hash), /^[0-9a-f]{16}$/);
  assert.equal(record.session_id, c.session);
  assert.deepEqual(record.granted_scopes, ['files:read']);
};

const cases: Case[] = [
  {
    name: 'Host of another site (DNS rebinding)',
    send: (c) => post(c, toolCall('read_file'), { host: 'evil.example' }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestOriginForbidden',
    status: 403,
    check: (record) => {
      assert.equal(record.path, '/mcp');
      assert.equal(record.upstream, 'files');
      assert.equal(record.subject, undefined, 'refused before authentication');
    },
  },
  {
    name: 'Origin not allowed',
    send: (c) => post(c, toolCall('read_file'), { origin: 'https://evil.example' }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestOriginForbidden',
    status: 403,
  },
  {
    name: 'unknown route',
    send: (c) => post(c, toolCall('read_file'), {}, '/nowhere'),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RouteNotFound',
    status: 404,
    check: (record) => {
      assert.equal(record.path, '/nowhere');
      assert.equal(record.upstream, undefined);
    },
  },
  {
    name: 'malformed path (encoded dot), with a token in the query: no path recorded',
    send: (c) => post(c, toolCall('read_file'), {}, `/%2e/mcp?access_token=${c.readToken}`),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestMalformed',
    status: 400,
    check: (record) => assert.equal(record.path, undefined),
  },
  {
    name: 'declared body over max_body_bytes',
    send: (c) => post(c, `{"pad":"${'x'.repeat(70_000)}"}`),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestBodyTooLarge',
    status: 413,
  },
  {
    name: 'more header lines than max_header_count',
    send: (c) => {
      const many: Record<string, string> = {};
      for (let i = 0; i < 120; i++) many[`x-filler-${i}`] = 'a';
      return post(c, toolCall('read_file'), many);
    },
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestHeadersTooLarge',
    status: 431,
  },
  {
    name: "headers beyond Node's parser limit (refused by the parser)",
    send: (c) => post(c, toolCall('read_file'), { 'x-filler': 'a'.repeat(20_000) }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestHeadersTooLarge',
    status: 431,
    check: (record) => assert.equal(record.http_method, undefined),
  },
  {
    name: 'HTTP method not served (PUT)',
    send: (c) =>
      request(c.gateway.url(), {
        method: 'PUT',
        headers: mcpHeaders({ authorization: `Bearer ${c.readToken}` }),
        body: toolCall('read_file'),
      }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'MethodNotAllowed',
    status: 405,
  },
  {
    name: 'CORS preflight without an Origin',
    send: (c) => request(c.gateway.url(), { method: 'OPTIONS' }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'MethodNotAllowed',
    status: 405,
  },
  {
    name: 'POST to a protected resource metadata document',
    send: (c) =>
      request(c.gateway.url('/.well-known/oauth-protected-resource/mcp'), { body: '{}' }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'MethodNotAllowed',
    status: 405,
  },
  {
    name: 'no token (and the one in the query string ignored)',
    send: (c) =>
      request(`${c.gateway.url()}?access_token=${c.readToken}`, {
        headers: mcpHeaders({ 'mcp-session-id': c.session }),
        body: toolCall('read_file'),
      }),
    event: 'auth.token.rejected',
    decision: 'deny',
    reason: 'AuthTokenMissing',
    status: 401,
    check: (record) => assert.equal(record.path, '/mcp', 'the query is never recorded'),
  },
  {
    name: 'invalid token',
    send: (c) => post(c, toolCall('read_file'), { authorization: 'Bearer forged.token.value' }),
    event: 'auth.token.rejected',
    decision: 'deny',
    reason: 'AuthTokenInvalid',
    status: 401,
  },
  {
    name: 'malformed Authorization header',
    send: (c) => post(c, toolCall('read_file'), { authorization: `Basic ${c.readToken}` }),
    event: 'auth.token.rejected',
    decision: 'deny',
    reason: 'AuthInvalidRequest',
    status: 400,
  },
  {
    name: 'the verifier fails (fail closed)',
    send: (c) => post(c, toolCall('read_file'), { authorization: 'Bearer explode' }),
    event: 'auth.token.rejected',
    decision: 'error',
    reason: 'AuthUnavailable',
    status: 503,
  },
  {
    name: 'valid token without the tool scope',
    send: (c) => post(c, toolCall('write_file', { path: 'a', text: 'b' })),
    event: 'mcp.request.denied',
    decision: 'deny',
    reason: 'AuthMissingScope',
    status: 403,
    check: (record, c) => {
      who(record, c);
      assert.equal(record.method, 'tools/call');
      assert.equal(record.tool, 'write_file');
      assert.deepEqual(record.required_scopes, ['files:write']);
      assert.deepEqual(record.arguments, { path: 'a', text: 'b' });
    },
  },
  {
    name: 'unmapped tool',
    send: (c) => post(c, toolCall('admin_tool')),
    event: 'mcp.request.denied',
    decision: 'deny',
    reason: 'McpToolDenied',
    status: 403,
    check: (record, c) => {
      who(record, c);
      assert.equal(record.tool, 'admin_tool');
    },
  },
  {
    name: 'method not allowed through the gateway',
    send: (c) => post(c, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tasks/list' })),
    event: 'mcp.request.denied',
    decision: 'deny',
    reason: 'McpMethodDenied',
    status: 403,
    check: (record) => assert.equal(record.method, 'tasks/list'),
  },
  {
    name: 'unknown session',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-session-id': 'A'.repeat(32) }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'McpSessionNotFound',
    status: 404,
    check: (record) => assert.equal(record.session_id, 'A'.repeat(32)),
  },
  {
    name: 'body that is not JSON (media type)',
    send: (c) => post(c, toolCall('read_file'), { 'content-type': 'text/plain' }),
    event: 'http.request.refused',
    decision: 'deny',
    reason: 'RequestUnsupportedMediaType',
    status: 415,
  },
  {
    name: 'rate limit of the subject',
    send: (c) => post(c, toolCall('read_file'), { authorization: `Bearer ${c.limitedToken}` }),
    event: 'ratelimit.exceeded',
    decision: 'deny',
    reason: 'RateLimited',
    status: 429,
    check: (record, _c, reply) => {
      assert.equal(record.subject, 'limited');
      assert.equal(reply.headers['retry-after'], '7');
    },
  },
  {
    name: 'session capacity of an upstream',
    send: (c) =>
      request(c.gateway.url('/capped'), {
        headers: mcpHeaders({ authorization: `Bearer ${c.bobToken}` }),
        body: INITIALIZE,
      }),
    event: 'capacity.exceeded',
    decision: 'error',
    reason: 'CapacityExceeded',
    status: 503,
    check: (record) => {
      assert.equal(record.upstream, 'capped');
      assert.equal(record.subject, 'bob');
      assert.equal(record.method, 'initialize');
    },
  },
  {
    name: 'upstream unreachable',
    send: (c) =>
      request(c.gateway.url('/down'), {
        headers: mcpHeaders({ authorization: `Bearer ${c.readToken}` }),
        body: INITIALIZE,
      }),
    event: 'upstream.failed',
    decision: 'error',
    reason: 'UpstreamUnavailable',
    status: 503,
    check: (record) => assert.equal(record.upstream, 'down'),
  },
  {
    name: 'upstream answers 500',
    send: (c) =>
      request(c.gateway.url('/broken'), {
        headers: mcpHeaders({ authorization: `Bearer ${c.readToken}` }),
        body: INITIALIZE,
      }),
    event: 'upstream.failed',
    decision: 'error',
    reason: 'UpstreamFailed',
    status: 502,
    check: (record) => assert.equal(typeof record.latency_ms, 'number'),
  },
  {
    name: 'positive control: a tool call in scope, arguments audited and redacted',
    send: (c) =>
      post(
        c,
        toolCall('read_file', {
          path: 'notes.txt',
          secret_note: 'hush',
          password: 'p4ss',
          deep: { a: { b: { c: { d: { e: { f: { g: { h: { i: `Bearer ${JWT_LIKE}` } } } } } } } } },
        }),
        { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      ),
    event: 'mcp.request.allowed',
    decision: 'allow',
    reason: undefined,
    status: 200,
    reachesUpstream: true,
    check: (record, c) => {
      who(record, c);
      assert.equal(record.tool, 'read_file');
      assert.deepEqual(record.required_scopes, ['files:read']);
      assert.equal(record.trace_id, '0af7651916cd43dd8448eb211c80319c');
      const args = record.arguments as Record<string, unknown>;
      assert.equal(args.path, 'notes.txt');
      assert.equal(args.secret_note, '[redacted]', 'redact_arguments');
      assert.equal(args.password, '[redacted]', 'credential-like keys');
      assert.doesNotMatch(JSON.stringify(args), /eyJ/, 'tokens redacted at any depth');
    },
  },
];

/** An HTTP "upstream" that fails every request with 500. */
async function startBrokenUpstream(): Promise<LoopbackServer> {
  return startLoopbackServer({ '/mcp': (_q, response) => json(response, 500, { error: 'x' }) });
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('audit trail of the gateway: one record per decision path', () => {
  const verifier = new ExplodingVerifier();
  let upstream: RecordingUpstream;
  let broken: LoopbackServer;
  let sink: AuditSink;
  let path: string;
  let context: Context;
  let seen = 0;
  const issuedTokens: string[] = [];

  /** Records written since the last call. */
  const newRecords = async (): Promise<AuditRecord[]> => {
    assert.equal(await sink.flush(), true);
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    const fresh = lines.slice(seen).map((line) => JSON.parse(line) as AuditRecord);
    seen = lines.length;
    return fresh;
  };

  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
    broken = await startBrokenUpstream();
    path = join(tempDir(), 'audit', 'audit.jsonl');
    sink = new AuditSink(new FileAuditBackend(path, 1_000_000));
    const downPort = await closedPort();
    const gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        remoteMcp: { max_body_bytes: 65_536 },
        upstreams: [
          httpUpstream(upstream.url, {
            audit_arguments: true,
            redact_arguments: ['secret_note'],
          }),
          httpUpstream(upstream.url, { name: 'capped', path: '/capped', max_sessions: 1 }),
          httpUpstream(`http://127.0.0.1:${downPort}/mcp`, { name: 'down', path: '/down' }),
          httpUpstream(`${broken.origin}/mcp`, { name: 'broken', path: '/broken' }),
        ],
      }),
      { auth: testDoubleAuth(verifier), audit: sink, rateLimiter: new SubjectLimiter() },
    );
    const readToken = verifier.issue('alice', ['files:read']);
    const bobToken = verifier.issue('bob', ['files:read']);
    const limitedToken = verifier.issue('limited', ['files:read']);
    issuedTokens.push(readToken, bobToken, limitedToken);
    const session = await openSession(gateway.url(), { authorization: `Bearer ${readToken}` });
    // Alice holds the only session of /capped.
    await openSession(gateway.url('/capped'), { authorization: `Bearer ${readToken}` });
    context = { gateway, readToken, bobToken, limitedToken, session };
    await newRecords();
  });

  after(async () => {
    await context?.gateway.close();
    await sink?.close();
    await upstream?.close();
    await broken?.close();
  });

  for (const testCase of cases) {
    it(`${testCase.event}${testCase.reason ? ` (${testCase.reason})` : ''}: ${testCase.name}`, async () => {
      const upstreamBefore = upstream.requests.length;
      const reply = await testCase.send(context);
      assert.equal(reply.status, testCase.status, reply.body);
      const records = await newRecords();
      assert.equal(records.length, 1, `exactly one record: ${JSON.stringify(records)}`);
      const record = records[0] as AuditRecord;
      assert.equal(record.event, testCase.event);
      assert.equal(record.decision, testCase.decision);
      assert.equal(record.reason, testCase.reason);
      assert.equal(record.status, testCase.status);
      assert.equal(record.request_id, reply.headers['x-request-id']);
      assert.equal(record.client_address, '127.0.0.1');
      assert.match(String(record.time), /^\d{4}-\d\d-\d\dT/);
      assert.ok(typeof record.latency_ms === 'number' && record.latency_ms >= 0);
      if (testCase.reason !== undefined) assert.equal(reply.json?.code, testCase.reason);
      assert.equal(
        upstream.requests.length - upstreamBefore,
        testCase.reachesUpstream ? 1 : 0,
        testCase.reachesUpstream ? 'forwarded once' : 'the upstream received nothing',
      );
      testCase.check?.(record, context, reply);
    });
  }

  it('every allowed request is one record too: notifications, GET stream, DELETE', async () => {
    const token = verifier.issue('carol', ['files:read']);
    issuedTokens.push(token);
    const auth = { authorization: `Bearer ${token}` };
    const session = await openSession(context.gateway.url(), auth);
    const opened = await newRecords();
    assert.deepEqual(
      opened.map((r) => [r.event, r.method, r.status, r.session_id]),
      [
        ['mcp.request.allowed', 'initialize', 200, session],
        ['mcp.request.allowed', 'notifications/initialized', 202, session],
      ],
    );
    const controller = new AbortController();
    const stream = await fetch(context.gateway.url(), {
      headers: { ...auth, accept: 'text/event-stream', 'mcp-session-id': session },
      signal: controller.signal,
    });
    controller.abort();
    const ended = await request(context.gateway.url(), {
      method: 'DELETE',
      headers: { ...auth, 'mcp-session-id': session },
    });
    assert.equal(ended.status, 200);
    const later = await newRecords();
    assert.deepEqual(
      later.map((r) => [r.event, r.http_method, r.status, r.subject]),
      [
        ['mcp.request.allowed', 'GET', stream.status, 'carol'],
        ['mcp.request.allowed', 'DELETE', 200, 'carol'],
      ],
    );
  });

  it('no record holds a token; the trail verifies', async () => {
    await sink.flush();
    const text = readFileSync(path, 'utf8');
    for (const token of [...issuedTokens, 'forged.token.value', JWT_LIKE, 'hush', 'p4ss']) {
      assert.ok(!text.includes(token), `the trail must not contain ${token.slice(0, 12)}…`);
    }
    // Successful probes are not audited (they decide nothing about access).
    await request(context.gateway.url('/healthz'), { method: 'GET' });
    await request(context.gateway.url('/readyz'), { method: 'GET' });
    assert.deepEqual(await newRecords(), []);
    const verification = verifyAuditTrail(path);
    assert.equal(verification.ok, true);
    assert.equal(verification.records, seen);
  });
});
