import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runStdioFront } from '../../src/proxy/index.ts';
import {
  gatewayDocument,
  httpUpstream,
  loadTestConfig,
  memoryLogger,
  startTestGateway,
  stdioTestUpstream,
  type TestGateway,
} from '../helpers/gateway.ts';
import { mcpHeaders, messagesOf, openSession, request, toolCall } from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

describe('several upstreams at once, stdio and HTTP mixed', () => {
  const verifier = new TestDoubleVerifier();
  let notes: RecordingUpstream;
  let gateway: TestGateway;
  let token: string;

  before(async () => {
    notes = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        allowedScopes: ['files:read', 'files:write', 'notes:read', 'mcp:resources', 'mcp:prompts'],
        upstreams: [
          stdioTestUpstream({ name: 'files', path: '/mcp/files' }),
          httpUpstream(notes.url, {
            name: 'notes',
            path: '/mcp/notes',
            tool_scopes: { '*': 'notes:read' },
          }),
        ],
      }),
      { auth: testDoubleAuth(verifier) },
    );
    token = verifier.issue('alice', ['files:read', 'notes:read']);
  });

  after(async () => {
    await gateway?.close();
    await notes?.close();
  });

  it('routes each path to its upstream with its own policy', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const files = await openSession(gateway.url('/mcp/files'), auth);
    const notesSession = await openSession(gateway.url('/mcp/notes'), auth);
    const pid = await request(gateway.url('/mcp/files'), {
      headers: mcpHeaders({ ...auth, 'mcp-session-id': files }),
      body: toolCall('pid'),
    });
    assert.equal(pid.status, 200);
    // On /mcp/notes every tool needs notes:read ("*"), so admin_tool is allowed there …
    const admin = await request(gateway.url('/mcp/notes'), {
      headers: mcpHeaders({ ...auth, 'mcp-session-id': notesSession }),
      body: toolCall('admin_tool'),
    });
    assert.equal(admin.status, 200);
    assert.match(JSON.stringify(messagesOf(admin)), /admin done/);
    // … and refused on /mcp/files, which does not map it.
    const refused = await request(gateway.url('/mcp/files'), {
      headers: mcpHeaders({ ...auth, 'mcp-session-id': files }),
      body: toolCall('admin_tool'),
    });
    assert.equal(refused.status, 403);
    // A session belongs to its route.
    const crossed = await request(gateway.url('/mcp/notes'), {
      headers: mcpHeaders({ ...auth, 'mcp-session-id': files }),
      body: toolCall('read_file', { path: 'x' }),
    });
    assert.equal(crossed.status, 404);
  });

  it('gives each route its own resource URI and metadata URL in the challenge', async () => {
    for (const path of ['/mcp/files', '/mcp/notes']) {
      const reply = await request(gateway.url(path), {
        headers: mcpHeaders(),
        body: toolCall('pid'),
      });
      assert.equal(reply.status, 401);
      assert.match(
        String(reply.headers['www-authenticate']),
        new RegExp(
          `resource_metadata="${gateway.url(`/.well-known/oauth-protected-resource${path}`)}"`,
        ),
      );
      const metadata = await request(gateway.url(`/.well-known/oauth-protected-resource${path}`), {
        method: 'GET',
      });
      assert.equal(metadata.json?.resource, gateway.url(path));
    }
  });
});

describe('Origin allow-list and CORS', () => {
  let upstream: RecordingUpstream;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [httpUpstream(upstream.url)],
        remoteMcp: { allowed_origins: ['https://app.example'] },
      }),
    );
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('accepts an allowed origin with CORS headers, and refuses others before any upstream call', async () => {
    const preflight = await request(gateway.url(), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(String(preflight.headers['access-control-allow-headers']), /mcp-session-id/);
    const refused = await request(gateway.url(), {
      method: 'OPTIONS',
      headers: { origin: 'https://other.example' },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
    assert.equal(upstream.requests.length, 0);
    const session = await openSession(gateway.url(), { origin: 'https://app.example' });
    const reply = await request(gateway.url(), {
      headers: mcpHeaders({ origin: 'https://app.example', 'mcp-session-id': session }),
      body: toolCall('read_file', { path: 'x' }),
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(String(reply.headers['access-control-expose-headers']), /mcp-session-id/);
  });

  it('passes Last-Event-ID on GET to the upstream for resumption', async () => {
    const session = await openSession(gateway.url());
    const controller = new AbortController();
    const response = await fetch(gateway.url(), {
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': session,
        'last-event-id': 'evt-42',
      },
      signal: controller.signal,
    });
    controller.abort();
    assert.ok(response.status === 200 || response.status === 409, String(response.status));
    const get = upstream.requests.filter((recorded) => recorded.method === 'GET').at(-1);
    assert.equal(get?.headers['last-event-id'], 'evt-42');
  });
});

describe('--transport stdio front, in process', () => {
  const exchange = async (upstream: Record<string, unknown>) => {
    const input = new PassThrough();
    const output = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    let buffer = '';
    output.setEncoding('utf8');
    const waiters: (() => void)[] = [];
    output.on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        lines.push(JSON.parse(buffer.slice(0, newline)));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
      for (const wake of waiters.splice(0)) wake();
    });
    const answerTo = async (id: number) => {
      for (;;) {
        const found = lines.find((line) => line.id === id);
        if (found !== undefined) return found;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    const loaded = loadTestConfig(gatewayDocument({ auth: 'none', upstreams: [upstream] }));
    const done = runStdioFront(loaded, { input, output, logger: memoryLogger().logger });
    const send = (message: Record<string, unknown>) => input.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 't', version: '1' },
      },
    });
    await answerTo(1);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const list = await answerTo(2);
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'admin_tool' } });
    const denied = await answerTo(3);
    input.write(
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"read_file","name":"admin_tool"}}\n',
    );
    const duplicate = await answerTo(4);
    send({
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'read_file', arguments: { path: 'p' } },
    });
    const allowed = await answerTo(5);
    input.end();
    assert.equal(await done, 0);
    return { list, denied, duplicate, allowed };
  };

  const check = (result: Awaited<ReturnType<typeof exchange>>) => {
    const tools = (result.list.result as { tools: { name: string }[] }).tools.map(
      (tool) => tool.name,
    );
    assert.deepEqual(tools.sort(), ['pid', 'read_file', 'sleep', 'write_file']);
    assert.equal((result.denied.error as { code: number }).code, -32602);
    assert.equal((result.duplicate.error as { code: number }).code, -32600);
    assert.match(JSON.stringify(result.allowed), /contents of p/);
  };

  it('applies the policy to a stdio upstream', async () => {
    check(await exchange(stdioTestUpstream()));
  });

  it('applies the policy to an HTTP upstream (through the SDK client transport)', async () => {
    const upstream = await startRecordingUpstream();
    try {
      check(await exchange(httpUpstream(upstream.url)));
      assert.deepEqual(upstream.toolCalls(), ['read_file'], 'refused calls never reached it');
    } finally {
      await upstream.close();
    }
  });
});

describe('draining (shutdown begun)', () => {
  it('fails readiness, refuses new work with 503, and still lets a client end its session', async () => {
    const gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [stdioTestUpstream()] }),
    );
    try {
      const session = await openSession(gateway.url());
      assert.equal((await request(gateway.url('/readyz'), { method: 'GET' })).status, 200);
      gateway.running.gateway.drain();
      const ready = await request(gateway.url('/readyz'), { method: 'GET' });
      assert.equal(ready.status, 503);
      const refused = await request(gateway.url(), {
        headers: mcpHeaders({ 'mcp-session-id': session }),
        body: toolCall('pid'),
      });
      assert.equal(refused.status, 503);
      assert.equal(refused.json?.code, 'UpstreamUnavailable');
      assert.equal(refused.headers['retry-after'], '5');
      const ended = await request(gateway.url(), {
        method: 'DELETE',
        headers: { 'mcp-session-id': session },
      });
      assert.equal(ended.status, 200);
      assert.equal((await request(gateway.url('/healthz'), { method: 'GET' })).status, 200);
    } finally {
      await gateway.close();
    }
  });
});
