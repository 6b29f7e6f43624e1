import assert from 'node:assert/strict';
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
  messagesOf,
  openSession,
  type Reply,
  request,
  type TestHeaders,
  toolCall,
} from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * The RS-, SCOPE- and MCP- families of docs/security-cases.md that apply to the gateway, through
 * the real HTTP front to a real (recording) MCP upstream. Token verification is the test-double
 * verifier: these tests are about the gateway's policy. Each case asserts the status, the error
 * code and that the upstream received nothing; the table ends with a positive control.
 */

interface Context {
  readonly url: string;
  readonly host: string;
  readonly readToken: string;
  readonly bobToken: string;
  readonly session: string;
}

interface Case {
  readonly id: string;
  readonly name: string;
  readonly send: (context: Context) => Promise<Reply>;
  readonly status: number;
  readonly code: string;
  readonly check?: (reply: Reply, context: Context) => void;
}

const post = (context: Context, body: string, headers: TestHeaders = {}, path = '/mcp') =>
  request(context.url, {
    target: path,
    headers: mcpHeaders({
      authorization: `Bearer ${context.readToken}`,
      'mcp-session-id': context.session,
      ...headers,
    }),
    body,
  });

const without = (headers: TestHeaders, name: string): TestHeaders => {
  const copy = { ...headers };
  delete copy[name];
  return copy;
};

const cases: Case[] = [
  {
    id: 'RS-01',
    name: 'no token: 401 with resource_metadata and no error attribute',
    send: (c) =>
      request(c.url, {
        headers: without(mcpHeaders({ 'mcp-session-id': c.session }), 'authorization'),
        body: toolCall('read_file', { path: 'a' }),
      }),
    status: 401,
    code: 'AuthTokenMissing',
    check: (reply) => {
      const challenge = String(reply.headers['www-authenticate']);
      assert.match(
        challenge,
        /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
      );
      assert.doesNotMatch(challenge, /error=/);
    },
  },
  {
    id: 'RS-01',
    name: 'GET (SSE stream) without a token: 401',
    send: (c) =>
      request(c.url, {
        method: 'GET',
        headers: { accept: 'text/event-stream', 'mcp-session-id': c.session },
      }),
    status: 401,
    code: 'AuthTokenMissing',
  },
  {
    id: 'RS-01',
    name: 'DELETE without a token: 401 (the session survives)',
    send: (c) => request(c.url, { method: 'DELETE', headers: { 'mcp-session-id': c.session } }),
    status: 401,
    code: 'AuthTokenMissing',
  },
  {
    id: 'MCP-07',
    name: "DELETE of another subject's session: 404",
    send: (c) =>
      request(c.url, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${c.bobToken}`, 'mcp-session-id': c.session },
      }),
    status: 404,
    code: 'McpSessionNotFound',
  },
  {
    id: 'RS-02',
    name: 'invalid token: 401 invalid_token, token not echoed',
    send: (c) => post(c, toolCall('read_file'), { authorization: 'Bearer forged.token.value' }),
    status: 401,
    code: 'AuthTokenInvalid',
    check: (reply) => {
      assert.match(String(reply.headers['www-authenticate']), /error="invalid_token"/);
      assert.doesNotMatch(reply.body, /forged/);
    },
  },
  {
    id: 'RS-03',
    name: 'valid token without the tool scope: 403 insufficient_scope naming it',
    send: (c) => post(c, toolCall('write_file', { path: 'a', text: 'b' })),
    status: 403,
    code: 'AuthMissingScope',
    check: (reply) => {
      const challenge = String(reply.headers['www-authenticate']);
      assert.match(challenge, /error="insufficient_scope"/);
      assert.match(challenge, /scope="files:write"/);
      assert.match(challenge, /resource_metadata="/);
    },
  },
  {
    id: 'RS-04',
    name: 'malformed Authorization (other scheme): 400 invalid_request',
    send: (c) => post(c, toolCall('read_file'), { authorization: 'Basic YWxpY2U6c2VjcmV0' }),
    status: 400,
    code: 'AuthInvalidRequest',
  },
  {
    id: 'RS-04',
    name: 'malformed Authorization (two tokens): 400',
    send: (c) => post(c, toolCall('read_file'), { authorization: `Bearer ${c.readToken} x` }),
    status: 400,
    code: 'AuthInvalidRequest',
  },
  {
    id: 'RS-04',
    name: 'two Authorization headers: 400',
    send: (c) =>
      post(c, toolCall('read_file'), {
        authorization: [`Bearer ${c.readToken}`, `Bearer ${c.bobToken}`],
      }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'JWT-42',
    name: 'token in the query string is ignored: 401',
    send: (c) =>
      request(`${c.url}?access_token=${c.readToken}`, {
        headers: mcpHeaders({ 'mcp-session-id': c.session }),
        body: toolCall('read_file'),
      }),
    status: 401,
    code: 'AuthTokenMissing',
  },
  {
    id: 'SCOPE-01',
    name: 'tools/call of an unmapped tool: 403, hidden',
    send: (c) => post(c, toolCall('admin_tool')),
    status: 403,
    code: 'McpToolDenied',
  },
  {
    id: 'SCOPE-03',
    name: 'tool name case variant: 403',
    send: (c) => post(c, toolCall('Read_File')),
    status: 403,
    code: 'McpToolDenied',
  },
  {
    id: 'SCOPE-03',
    name: 'tool name with a zero-width space: 403',
    send: (c) => post(c, toolCall('read\u200b_file')),
    status: 403,
    code: 'McpToolDenied',
  },
  {
    id: 'SCOPE-06',
    name: 'Mcp-Name header that disagrees with the body: 400',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-name': 'write_file' }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'SCOPE-06',
    name: 'Mcp-Method header that disagrees with the body: 400',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-method': 'tools/list' }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'SCOPE-07',
    name: 'two Mcp-Name lines: 400',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-name': ['read_file', 'admin_tool'] }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'SCOPE-08',
    name: 'resources/read without its scope: 403',
    send: (c) =>
      post(
        c,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 2,
          method: 'resources/read',
          params: { uri: 'test://readme' },
        }),
      ),
    status: 403,
    code: 'AuthMissingScope',
  },
  {
    id: 'SCOPE-08',
    name: 'unknown method: 403',
    send: (c) => post(c, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'admin/reload' })),
    status: 403,
    code: 'McpMethodDenied',
  },
  {
    id: 'SCOPE-09',
    name: 'duplicate member names in params: 400',
    send: (c) =>
      post(
        c,
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","name":"write_file"}}',
      ),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'SCOPE-10',
    name: 'arguments nested 100 000 deep: 400, process alive',
    send: (c) =>
      post(
        c,
        `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`,
      ),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'SCOPE-10',
    name: 'a 2 MB argument: 413',
    send: (c) => post(c, toolCall('read_file', { path: 'x'.repeat(2 * 1024 * 1024) })),
    status: 413,
    code: 'RequestBodyTooLarge',
  },
  {
    id: 'SCOPE-11',
    name: 'id 1e400: 400',
    send: (c) =>
      post(c, '{"jsonrpc":"2.0","id":1e400,"method":"tools/call","params":{"name":"read_file"}}'),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'SCOPE-11',
    name: 'JSON-RPC batch: 400 (batches refused)',
    send: (c) => post(c, `[${toolCall('read_file')}]`),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'MCP-05',
    name: 'foreign Origin: 403 before the body is read',
    send: (c) => post(c, toolCall('read_file'), { origin: 'https://evil.example' }),
    status: 403,
    code: 'RequestOriginForbidden',
  },
  {
    id: 'MCP-05',
    name: 'Origin null: 403',
    send: (c) => post(c, toolCall('read_file'), { origin: 'null' }),
    status: 403,
    code: 'RequestOriginForbidden',
  },
  {
    id: 'MCP-05',
    name: 'two Origin lines: 400',
    send: (c) =>
      post(c, toolCall('read_file'), { origin: [new URL(c.url).origin, 'https://evil.example'] }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'MCP-06',
    name: 'Host of another site (DNS rebinding): 403',
    send: (c) =>
      post(c, toolCall('read_file'), { host: `attacker.example:${new URL(c.url).port}` }),
    status: 403,
    code: 'RequestOriginForbidden',
  },
  {
    id: 'MCP-07',
    name: "another subject's session id: 404, as if unknown",
    send: (c) => post(c, toolCall('read_file'), { authorization: `Bearer ${c.bobToken}` }),
    status: 404,
    code: 'McpSessionNotFound',
  },
  {
    id: 'MCP-07',
    name: 'session id without a token: 401 (a session never authenticates)',
    send: (c) =>
      request(c.url, {
        headers: mcpHeaders({ 'mcp-session-id': c.session }),
        body: toolCall('read_file'),
      }),
    status: 401,
    code: 'AuthTokenMissing',
  },
  {
    id: 'MCP-07',
    name: 'guessed session id: 404',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-session-id': 'A'.repeat(32) }),
    status: 404,
    code: 'McpSessionNotFound',
  },
  {
    id: 'MCP-07',
    name: 'malformed session id: 400',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-session-id': '1' }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'MCP-07',
    name: 'request without a session id: 400',
    send: (c) => post(c, toolCall('read_file'), { 'mcp-session-id': undefined }),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'MCP-07',
    name: 'initialize inside a session: 400',
    send: (c) => post(c, INITIALIZE),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'MCP-T',
    name: 'body that is not application/json: 415',
    send: (c) => post(c, toolCall('read_file'), { 'content-type': 'text/plain' }),
    status: 415,
    code: 'RequestUnsupportedMediaType',
  },
  {
    id: 'HT-10',
    name: 'gzip-encoded body: 415',
    send: (c) => post(c, toolCall('read_file'), { 'content-encoding': 'gzip' }),
    status: 415,
    code: 'RequestUnsupportedMediaType',
  },
  {
    id: 'MCP-T',
    name: 'Accept that allows neither JSON nor SSE: 406',
    send: (c) => post(c, toolCall('read_file'), { accept: 'text/html' }),
    status: 406,
    code: 'RequestNotAcceptable',
  },
  {
    id: 'HT-18',
    name: 'PUT on an MCP route: 405 with Allow',
    send: (c) =>
      request(c.url, {
        method: 'PUT',
        headers: mcpHeaders({ authorization: `Bearer ${c.readToken}` }),
        body: toolCall('read_file'),
      }),
    status: 405,
    code: 'MethodNotAllowed',
    check: (reply) => assert.equal(reply.headers.allow, 'GET, POST, DELETE'),
  },
  {
    id: 'HT-19',
    name: 'path with a dot segment: 400',
    send: (c) => post(c, toolCall('read_file'), {}, '/x/../mcp'),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'HT-19',
    name: 'path with an encoded dot: 400',
    send: (c) => post(c, toolCall('read_file'), {}, '/%2e/mcp'),
    status: 400,
    code: 'RequestMalformed',
  },
  {
    id: 'HT-19',
    name: 'path with a trailing slash matches nothing: 404',
    send: (c) => post(c, toolCall('read_file'), {}, '/mcp/'),
    status: 404,
    code: 'RouteNotFound',
  },
  {
    id: 'RS-07',
    name: 'no /metrics for a client relayed by a reverse proxy (X-Forwarded-For): 404',
    send: (c) =>
      request(`${new URL(c.url).origin}/metrics`, {
        method: 'GET',
        headers: { 'x-forwarded-for': '203.0.113.7' },
      }),
    status: 404,
    code: 'RouteNotFound',
  },
  {
    id: 'RS-07',
    name: 'no /metrics for a client relayed by a reverse proxy (Forwarded): 404',
    send: (c) =>
      request(`${new URL(c.url).origin}/metrics`, {
        method: 'GET',
        headers: { forwarded: 'for=203.0.113.7' },
      }),
    status: 404,
    code: 'RouteNotFound',
  },
  {
    id: 'RS-07',
    name: 'no /admin or /debug: 404',
    send: (c) => request(`${new URL(c.url).origin}/admin`, { method: 'GET' }),
    status: 404,
    code: 'RouteNotFound',
  },
];

describe('security cases through the gateway (RS-, SCOPE-, MCP-, HT- families)', () => {
  const verifier = new TestDoubleVerifier();
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  let context: Context;

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({ auth: 'oauth', upstreams: [httpUpstream(upstream.url)] }),
      { auth: testDoubleAuth(verifier) },
    );
    const readToken = verifier.issue('alice', ['files:read']);
    const url = gateway.url();
    context = {
      url,
      host: new URL(url).host,
      readToken,
      bobToken: verifier.issue('bob', ['files:read', 'files:write', 'mcp:resources']),
      session: await openSession(url, { authorization: `Bearer ${readToken}` }),
    };
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const testCase of cases) {
    it(`${testCase.id}: ${testCase.name}`, async () => {
      const before = upstream.requests.length;
      const reply = await testCase.send(context);
      assert.equal(reply.status, testCase.status, reply.body);
      assert.equal(reply.json?.code, testCase.code, reply.body);
      assert.equal(reply.headers['cache-control'], 'no-store', 'RS-08: errors are not cached');
      assert.match(String(reply.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      testCase.check?.(reply, context);
      assert.equal(upstream.requests.length, before, 'the upstream received nothing');
    });
  }

  it('positive control: the same session and token call a tool in scope', async () => {
    const before = upstream.toolCalls().length;
    const reply = await post(context, toolCall('read_file', { path: 'notes.txt' }));
    assert.equal(reply.status, 200, reply.body);
    assert.match(JSON.stringify(messagesOf(reply)), /contents of notes\.txt/);
    assert.deepEqual(upstream.toolCalls().slice(before), ['read_file']);
  });
});
