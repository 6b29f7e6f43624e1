import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { mcpHeaders, messagesOf, openSession, request, toolCall } from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

// Case ids in this file are defined in docs/security-cases.md.
const UPSTREAM_SECRET = 'upstream-credential-0123456789';
const TOOLS_LIST = JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' });

for (const jsonResponse of [false, true]) {
  describe(`Streamable HTTP upstream answering with ${jsonResponse ? 'JSON' : 'SSE'}`, () => {
    const verifier = new TestDoubleVerifier();
    let upstream: RecordingUpstream;
    let gateway: TestGateway;
    let token: string;
    let session: string;

    before(async () => {
      upstream = await startRecordingUpstream({ jsonResponse });
      gateway = await startTestGateway(
        gatewayDocument({
          auth: 'oauth',
          upstreams: [
            httpUpstream(upstream.url, {
              headers: { 'X-Upstream-Key': '${UPSTREAM_KEY}' },
            }),
          ],
        }),
        { auth: testDoubleAuth(verifier), env: { UPSTREAM_KEY: UPSTREAM_SECRET } },
      );
      token = verifier.issue('alice', ['files:read']);
      session = await openSession(gateway.url(), { authorization: `Bearer ${token}` });
    });

    after(async () => {
      await gateway?.close();
      await upstream?.close();
    });

    const call = (body: string, extra: Record<string, string | string[]> = {}) =>
      request(gateway.url(), {
        headers: mcpHeaders({
          authorization: `Bearer ${token}`,
          'mcp-session-id': session,
          ...extra,
        }),
        body,
      });

    it('filters tools/list to the token and marks each tool with its scope (SCOPE-12)', async () => {
      const reply = await call(TOOLS_LIST);
      assert.equal(reply.status, 200);
      assert.equal(
        String(reply.headers['content-type']).split(';')[0],
        jsonResponse ? 'application/json' : 'text/event-stream',
      );
      const [answer] = messagesOf(reply);
      const result = answer?.result as { tools: { name: string; _meta: Record<string, string> }[] };
      const tools = result.tools;
      assert.deepEqual(
        tools.map((tool) => [tool.name, tool._meta['portcullis/scope']]),
        [
          ['read_file', 'files:read'],
          ['pid', 'files:read'],
          ['sleep', 'files:read'],
        ],
      );
    });

    it('MCP-01/MCP-03: the upstream gets the gateway credential and none of the client’s', async () => {
      const before = upstream.requests.length;
      const reply = await call(toolCall('read_file', { path: 'x' }), {
        cookie: 'session=client-cookie',
        dpop: 'client-dpop-proof',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-user': 'admin',
        'x-mcp-subject': 'admin',
        connection: 'x-upstream-key',
        'x-upstream-key': 'client-supplied',
      });
      assert.equal(reply.status, 200, reply.body);
      const seen = upstream.requests.slice(before);
      assert.equal(seen.length, 1);
      const headers = seen[0]?.headers ?? {};
      for (const name of [
        'authorization',
        'cookie',
        'dpop',
        'x-forwarded-for',
        'x-forwarded-user',
        'x-mcp-subject',
      ]) {
        assert.equal(headers[name], undefined, `${name} must not reach the upstream`);
      }
      assert.equal(headers['x-upstream-key'], UPSTREAM_SECRET);
      assert.doesNotMatch(JSON.stringify(headers), new RegExp(token));
      // The upstream sees its own session id, never the gateway's.
      assert.notEqual(headers['mcp-session-id'], session);
      assert.match(String(headers['mcp-session-id']), /^[0-9a-f-]{36}$/);
    });

    it('GET opens the server-to-client stream through the gateway', async () => {
      const controller = new AbortController();
      const { status, contentType } = await new Promise<{ status: number; contentType: string }>(
        (resolve, reject) => {
          fetch(gateway.url(), {
            headers: {
              accept: 'text/event-stream',
              authorization: `Bearer ${token}`,
              'mcp-session-id': session,
            },
            signal: controller.signal,
          }).then(
            (response) =>
              resolve({
                status: response.status,
                contentType: response.headers.get('content-type') ?? '',
              }),
            reject,
          );
        },
      );
      controller.abort();
      assert.equal(status, 200);
      assert.match(contentType, /^text\/event-stream/);
    });

    it('DELETE ends the session upstream and at the gateway', async () => {
      const own = await openSession(gateway.url(), { authorization: `Bearer ${token}` });
      const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': own };
      const deleted = await request(gateway.url(), { method: 'DELETE', headers });
      assert.equal(deleted.status, 200);
      assert.equal(upstream.requests.at(-1)?.method, 'DELETE');
      const after = await request(gateway.url(), {
        headers: mcpHeaders(headers),
        body: toolCall('read_file', { path: 'x' }),
      });
      assert.equal(after.status, 404);
      assert.equal(after.json?.code, 'McpSessionNotFound');
    });
  });
}

describe('an upstream that refuses the gateway (UP-03)', () => {
  let upstream: RecordingUpstream;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
    );
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('turns an upstream 401 into 502, without its challenge or cookies, and logs it', async () => {
    upstream.rejectWith401 = true;
    const reply = await request(gateway.url(), {
      headers: mcpHeaders(),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 't', version: '1' },
        },
      }),
    });
    upstream.rejectWith401 = false;
    assert.equal(reply.status, 502);
    assert.equal(reply.json?.code, 'UpstreamFailed');
    assert.equal(reply.headers['www-authenticate'], undefined);
    assert.equal(reply.headers['set-cookie'], undefined);
    assert.ok(gateway.logs.some((record) => /refused the gateway/.test(String(record.msg))));
    assert.equal(gateway.running.gateway.sessions.size, 0, 'no session is kept');
  });

  it('positive control: the same upstream, accepting, serves the session', async () => {
    const session = await openSession(gateway.url());
    const reply = await request(gateway.url(), {
      headers: mcpHeaders({ 'mcp-session-id': session }),
      body: toolCall('read_file', { path: 'y' }),
    });
    assert.equal(reply.status, 200);
    assert.match(reply.body, /contents of y/);
  });
});

describe('protected resource metadata routes (RS-05)', () => {
  it('are served, without a token, from the injected builder at the path-inserted and root URLs', async () => {
    const upstream = await startRecordingUpstream();
    const gateway = await startTestGateway(
      gatewayDocument({ auth: 'oauth', upstreams: [httpUpstream(upstream.url)] }),
      { auth: testDoubleAuth(new TestDoubleVerifier()) },
    );
    try {
      for (const path of [
        '/.well-known/oauth-protected-resource/mcp',
        '/.well-known/oauth-protected-resource',
      ]) {
        const reply = await request(gateway.url(path), { method: 'GET' });
        assert.equal(reply.status, 200, path);
        assert.equal(reply.json?.resource, gateway.url('/mcp'));
      }
      assert.equal(upstream.requests.length, 0);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
