import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditSink, FileAuditBackend } from '../../src/audit/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  TEST_SCOPES,
  type TestGateway,
} from '../helpers/gateway.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * Every decision on the 2026-07-28 path gets exactly one audit record, as on the 2025 path; and
 * a 2025 session id presented by another subject is 404 everywhere (POST, GET stream with or
 * without Last-Event-ID, DELETE) with nothing reaching the upstream.
 */

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};

interface AuditRecord {
  readonly event: string;
  readonly decision: string;
  readonly reason?: string;
  readonly method?: string;
  readonly tool?: string;
  readonly subject?: string;
  readonly status?: number;
  readonly required_scopes?: readonly string[];
}

describe('the modern path in the audit trail, and 2025 sessions bound to their subject', () => {
  const verifier = new TestDoubleVerifier();
  const dir = tempDir();
  const path = join(dir, 'audit.jsonl');
  let sink: AuditSink;
  let upstream: ModernUpstream;
  let gateway: TestGateway;
  let seen = 0;
  const alice = verifier.issue('alice', ['files:read', 'mcp:listen']);
  const bob = verifier.issue('bob', ['files:read', 'mcp:listen']);
  const narrow = verifier.issue('carol', ['files:write']);

  const newRecords = async (): Promise<AuditRecord[]> => {
    assert.equal(await sink.flush(), true);
    if (!existsSync(path)) return [];
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    const fresh = lines.slice(seen).map((line) => JSON.parse(line) as AuditRecord);
    seen = lines.length;
    return fresh;
  };

  before(async () => {
    sink = new AuditSink(new FileAuditBackend(path, 1_000_000));
    upstream = await startModernUpstream();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        allowedScopes: [...TEST_SCOPES, 'mcp:listen'],
        upstreams: [
          httpUpstream(upstream.url, {
            tool_scopes: { echo: 'files:read', confirm: 'files:write' },
            method_scopes: { listen: 'mcp:listen' },
          }),
        ],
      }),
      { auth: testDoubleAuth(verifier), audit: sink },
    );
  });
  after(async () => {
    await gateway?.close();
    await sink?.close();
    await upstream?.close();
  });

  const post = (
    body: Record<string, unknown>,
    headers: Record<string, string>,
    token: string | null = alice,
  ) =>
    fetch(gateway.url(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...headers,
      },
      body: JSON.stringify(body),
    });
  const call = (name: string) => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name, arguments: { text: 'x' }, _meta: META },
  });
  const headersFor = (name: string) => ({
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': name,
  });

  const cases: {
    name: string;
    send: () => Promise<Response>;
    status: number;
    event: string;
    decision: string;
    reason?: string;
  }[] = [
    {
      name: 'allowed tools/call',
      send: () => post(call('echo'), headersFor('echo')),
      status: 200,
      event: 'mcp.request.allowed',
      decision: 'allow',
    },
    {
      name: 'tool without its scope',
      send: () => post(call('echo'), headersFor('echo'), narrow),
      status: 403,
      event: 'mcp.request.denied',
      decision: 'deny',
      reason: 'AuthMissingScope',
    },
    {
      name: 'unmapped tool',
      send: () => post(call('wait'), headersFor('wait')),
      status: 403,
      event: 'mcp.request.denied',
      decision: 'deny',
      reason: 'McpToolDenied',
    },
    {
      name: 'header mismatch',
      send: () => post(call('echo'), headersFor('confirm')),
      status: 400,
      event: 'http.request.refused',
      decision: 'deny',
      reason: 'RequestMalformed',
    },
    {
      name: 'no token on server/discover',
      send: () =>
        post(
          { jsonrpc: '2.0', id: 2, method: 'server/discover', params: { _meta: META } },
          { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
          null,
        ),
      status: 401,
      event: 'auth.token.rejected',
      decision: 'deny',
      reason: 'AuthTokenMissing',
    },
    {
      name: 'GET without a session',
      send: () =>
        fetch(gateway.url(), {
          headers: { accept: 'text/event-stream', authorization: `Bearer ${alice}` },
        }),
      status: 405,
      event: 'http.request.refused',
      decision: 'deny',
      reason: 'MethodNotAllowed',
    },
    {
      name: 'allowed server/discover',
      send: () =>
        post(
          { jsonrpc: '2.0', id: 3, method: 'server/discover', params: { _meta: META } },
          { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
        ),
      status: 200,
      event: 'mcp.request.allowed',
      decision: 'allow',
    },
  ];

  for (const testCase of cases) {
    it(`one record: ${testCase.name}`, async () => {
      await newRecords();
      const response = await testCase.send();
      assert.equal(response.status, testCase.status);
      await response.body?.cancel();
      const records = await newRecords();
      assert.equal(records.length, 1, JSON.stringify(records));
      const [record] = records;
      assert.equal(record?.event, testCase.event);
      assert.equal(record?.decision, testCase.decision);
      assert.equal(record?.reason, testCase.reason);
      assert.equal(record?.status, testCase.status);
    });
  }

  it('a 2025 session id presented by another subject is 404 everywhere, the upstream seeing nothing (positive control last)', async () => {
    const initialize = await fetch(gateway.url(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${alice}`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'a', version: '1' },
        },
      }),
    });
    assert.equal(initialize.status, 200);
    const session = initialize.headers.get('mcp-session-id');
    assert.ok(session);
    await initialize.body?.cancel();
    const as = (token: string, extra: Record<string, string> = {}) => ({
      authorization: `Bearer ${token}`,
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-11-25',
      ...extra,
    });
    const listTools = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const before = upstream.requests.length;
    for (const [name, attempt] of [
      [
        'POST',
        () =>
          fetch(gateway.url(), {
            method: 'POST',
            headers: as(bob, {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
            }),
            body: listTools,
          }),
      ],
      [
        'GET stream',
        () => fetch(gateway.url(), { headers: as(bob, { accept: 'text/event-stream' }) }),
      ],
      [
        'GET with Last-Event-ID',
        () =>
          fetch(gateway.url(), {
            headers: as(bob, { accept: 'text/event-stream', 'last-event-id': '1' }),
          }),
      ],
      ['DELETE', () => fetch(gateway.url(), { method: 'DELETE', headers: as(bob) })],
    ] as const) {
      const response = await attempt();
      assert.equal(response.status, 404, name);
      assert.equal(((await response.json()) as { code: string }).code, 'McpSessionNotFound', name);
    }
    assert.equal(upstream.requests.length, before, 'the upstream saw nothing');
    const own = await fetch(gateway.url(), {
      method: 'POST',
      headers: as(alice, {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      }),
      body: listTools,
    });
    assert.equal(own.status, 200);
    assert.match(await own.text(), /"echo"/);
  });
});
