import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHeaderValue, encodeHeaderValue } from '../../src/mcp/modern/header-value.ts';
import {
  classifyInbound,
  type InboundRequest,
  methodNotAllowed,
  rejectionBody,
} from '../../src/mcp/modern/inbound.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  'io.modelcontextprotocol/clientInfo': { name: 'test', version: '1.0.0' },
};

function call(name: string, meta: Record<string, unknown> = META) {
  return {
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name, arguments: { a: 1 }, _meta: meta },
  };
}

function post(body: unknown, headers: Record<string, string>): InboundRequest {
  return { httpMethod: 'POST', headers, body };
}

const GOOD_HEADERS = {
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};

describe('header value encoding (=?base64?…?=)', () => {
  const cases: [string, string][] = [
    ['us-west1', 'us-west1'],
    ['Hello, 世界', '=?base64?SGVsbG8sIOS4lueVjA==?='],
    [' padded ', '=?base64?IHBhZGRlZCA=?='],
    ['line1\nline2', '=?base64?bGluZTEKbGluZTI=?='],
    ['=?base64?literal?=', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?='],
  ];
  for (const [value, encoded] of cases) {
    it(`round-trips ${JSON.stringify(value)}`, () => {
      assert.equal(encodeHeaderValue(value), encoded);
      assert.equal(decodeHeaderValue(encoded), value);
    });
  }
  it('refuses non-canonical Base64 and invalid UTF-8', () => {
    assert.equal(decodeHeaderValue('=?base64?SGVsbG8?='), undefined);
    assert.equal(decodeHeaderValue('=?base64?/w==?='), undefined);
    assert.equal(decodeHeaderValue('bad\u0001value'), undefined);
  });
  it('keeps the markers case-sensitive', () => {
    assert.equal(decodeHeaderValue('=?BASE64?ZWNobw==?='), '=?BASE64?ZWNobw==?=');
  });
});

describe('classifyInbound: modern requests', () => {
  interface Case {
    readonly name: string;
    readonly request: InboundRequest;
    readonly status: number;
    readonly code: number;
  }
  const cases: Case[] = [
    {
      name: 'version header differs from _meta',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-protocol-version': '2025-11-25' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'version header missing on a modern body',
      request: post(call('echo'), { 'mcp-method': 'tools/call', 'mcp-name': 'echo' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'unsupported modern version in header and body',
      request: post(
        call('echo', { ...META, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' }),
        { ...GOOD_HEADERS, 'mcp-protocol-version': '2027-01-01' },
      ),
      status: 400,
      code: -32022,
    },
    {
      name: 'unsupported version in the header only',
      request: post(
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { 'mcp-protocol-version': '2030-01-01', 'mcp-method': 'tools/list' },
      ),
      status: 400,
      code: -32022,
    },
    {
      name: 'per-request envelope naming a 2025 revision',
      request: post(
        call('echo', { ...META, 'io.modelcontextprotocol/protocolVersion': '2025-11-25' }),
        { ...GOOD_HEADERS, 'mcp-protocol-version': '2025-11-25' },
      ),
      status: 400,
      code: -32022,
    },
    {
      name: 'Mcp-Method missing',
      request: post(call('echo'), { 'mcp-protocol-version': '2026-07-28', 'mcp-name': 'echo' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Method differs from the body',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-method': 'tools/list' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Method case variant',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-method': 'Tools/Call' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Method repeated (joined list)',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-method': 'tools/call, tools/call' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Name missing on tools/call',
      request: post(call('echo'), {
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
      }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Name names another tool',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-name': 'delete_everything' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Name case variant',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-name': 'ECHO' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Name base64 form of another tool',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-name': encodeB64('delete') }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Name malformed base64',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-name': '=?base64?ZWNo?=' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'Mcp-Name repeated (joined list)',
      request: post(call('echo'), { ...GOOD_HEADERS, 'mcp-name': 'echo, echo' }),
      status: 400,
      code: -32020,
    },
    {
      name: 'resources/read Mcp-Name differs from params.uri',
      request: post(
        {
          jsonrpc: '2.0',
          id: 2,
          method: 'resources/read',
          params: { uri: 'file:///a', _meta: META },
        },
        {
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'resources/read',
          'mcp-name': 'file:///b',
        },
      ),
      status: 400,
      code: -32020,
    },
    {
      name: 'envelope without client capabilities',
      request: post(
        call('echo', { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' }),
        GOOD_HEADERS,
      ),
      status: 400,
      code: -32602,
    },
    {
      name: 'modern header on an initialize request',
      request: post(
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'initialize' },
      ),
      status: 400,
      code: -32020,
    },
  ];
  for (const testCase of cases) {
    it(`refuses: ${testCase.name}`, () => {
      const outcome = classifyInbound(testCase.request);
      assert.equal(outcome.kind, 'reject', JSON.stringify(outcome));
      if (outcome.kind !== 'reject') return;
      assert.equal(outcome.status, testCase.status);
      assert.equal(outcome.code, testCase.code);
      const body = JSON.parse(rejectionBody(outcome));
      assert.equal(body.error.code, testCase.code);
      if (testCase.code === -32022) {
        assert.ok(body.error.data.supported.includes('2026-07-28'));
        assert.ok(body.error.data.supported.includes('2025-11-25'));
      }
    });
  }

  it('positive control: matching headers, plain and base64, with Mcp-Param-* kept', () => {
    const plain = classifyInbound(
      post(call('echo'), { ...GOOD_HEADERS, 'mcp-param-region': 'eu' }),
    );
    assert.equal(plain.kind, 'modern');
    if (plain.kind !== 'modern') return;
    assert.equal(plain.request.name, 'echo');
    assert.equal(plain.request.protocolVersion, '2026-07-28');
    assert.deepEqual(plain.request.paramHeaders, { 'mcp-param-region': 'eu' });
    assert.deepEqual(plain.request.clientCapabilities, { elicitation: {} });
    const encoded = classifyInbound(
      post(call('météo'), { ...GOOD_HEADERS, 'mcp-name': encodeB64('météo') }),
    );
    assert.equal(encoded.kind, 'modern');
    if (encoded.kind === 'modern') assert.equal(encoded.request.name, 'météo');
  });
});

describe('classifyInbound: remembered envelope classifications', () => {
  it('never let a later mismatch through after the same envelope passed', () => {
    for (let round = 0; round < 3; round += 1) {
      assert.equal(classifyInbound(post(call('echo'), GOOD_HEADERS)).kind, 'modern');
      const method = classifyInbound(
        post(call('echo'), { ...GOOD_HEADERS, 'mcp-method': 'tools/list' }),
      );
      assert.equal(method.kind === 'reject' && method.code, -32020);
      const version = classifyInbound(
        post(call('echo'), { ...GOOD_HEADERS, 'mcp-protocol-version': '2025-06-18' }),
      );
      assert.equal(version.kind === 'reject' && version.code, -32020);
      const name = classifyInbound(post(call('echo'), { ...GOOD_HEADERS, 'mcp-name': 'other' }));
      assert.equal(name.kind === 'reject' && name.code, -32020);
      const broken = classifyInbound(
        post(
          call('echo', { ...META, 'io.modelcontextprotocol/clientCapabilities': 5 }),
          GOOD_HEADERS,
        ),
      );
      assert.equal(broken.kind === 'reject' && broken.code, -32602);
    }
  });

  it('reads the id, name and params of each request, not of the remembered one', () => {
    const first = classifyInbound(post({ ...call('echo'), id: 1 }, GOOD_HEADERS));
    const second = classifyInbound(
      post(
        { ...call('echo'), id: 'b', params: { ...call('echo').params, arguments: { n: 2 } } },
        GOOD_HEADERS,
      ),
    );
    assert.ok(first.kind === 'modern' && second.kind === 'modern');
    assert.equal(first.request.id, 1);
    assert.equal(second.request.id, 'b');
    assert.deepEqual(second.request.params.arguments, { n: 2 });
  });
});

describe('classifyInbound: the legacy era and other methods', () => {
  it('an initialize without envelope is legacy', () => {
    const outcome = classifyInbound(
      post(
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } },
        {},
      ),
    );
    assert.deepEqual(outcome, { kind: 'legacy' });
  });
  it('a 2025 request with its header is legacy, and so is one without any header', () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    assert.equal(
      classifyInbound(post(body, { 'mcp-protocol-version': '2025-06-18' })).kind,
      'legacy',
    );
    assert.equal(classifyInbound(post(body, {})).kind, 'legacy');
  });
  it('GET and DELETE are legacy (405 without a session)', () => {
    assert.equal(classifyInbound({ httpMethod: 'GET', headers: {} }).kind, 'legacy');
    assert.equal(classifyInbound({ httpMethod: 'DELETE', headers: {} }).kind, 'legacy');
    const refusal = methodNotAllowed();
    assert.equal(refusal.status, 405);
  });
  it('a stray Mcp-Session-Id does not change a modern request', () => {
    const outcome = classifyInbound(
      post(call('echo'), { ...GOOD_HEADERS, 'mcp-session-id': 'abc', 'last-event-id': '4' }),
    );
    assert.equal(outcome.kind, 'modern');
  });
  it('a modern notification is accepted as such', () => {
    const outcome = classifyInbound(
      post(
        { jsonrpc: '2.0', method: 'notifications/cancelled', params: { _meta: META } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'notifications/cancelled' },
      ),
    );
    assert.deepEqual(outcome, { kind: 'modern-notification', method: 'notifications/cancelled' });
  });
  it('server/discover needs no Mcp-Name', () => {
    const outcome = classifyInbound(
      post(
        { jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: META } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
      ),
    );
    assert.equal(outcome.kind, 'modern');
  });
});

function encodeB64(value: string): string {
  return `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}
