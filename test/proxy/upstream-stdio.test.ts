import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { tempDir } from '../helpers/cli.ts';
import {
  EVERYTHING_ENTRY,
  gatewayDocument,
  startTestGateway,
  stdioTestUpstream,
  type TestGateway,
} from '../helpers/gateway.ts';
import {
  INITIALIZE,
  mcpHeaders,
  messagesOf,
  openSession,
  request,
  toolCall,
} from '../helpers/http-client.ts';

/**
 * stdio upstreams: one child per session, a clean environment, crashes, caps and idle time.
 * Case ids in this file are defined in docs/security-cases.md.
 */

const started: TestGateway[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => {});
  for (const gateway of started.splice(0)) await gateway.close();
});

async function gatewayWith(upstream: Record<string, unknown>, env?: NodeJS.ProcessEnv) {
  const gateway = await startTestGateway(
    gatewayDocument({ auth: 'none', upstreams: [upstream] }),
    env === undefined ? {} : { env },
  );
  started.push(gateway);
  return gateway;
}

async function connect(gateway: TestGateway): Promise<Client> {
  const client = new Client({ name: 'portcullis-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url())));
  clients.push(client);
  return client;
}

const textOf = (result: Awaited<ReturnType<Client['callTool']>>) =>
  (result.content as { text?: string }[])[0]?.text ?? '';

describe('stdio upstream environment', () => {
  it("gives the child its configured env plus PATH, never the gateway's secrets", async () => {
    const secretName = 'PORTCULLIS_TEST_GATEWAY_SECRET';
    process.env[secretName] = 'gateway-secret-that-must-not-leak';
    try {
      const gateway = await gatewayWith({
        name: 'everything',
        path: '/mcp',
        command: process.execPath,
        args: [EVERYTHING_ENTRY, 'stdio'],
        env: { CONFIGURED_FOR_CHILD: 'visible' },
        tool_scopes: { 'get-env': 'files:read' },
      });
      const client = await connect(gateway);
      const env = JSON.parse(textOf(await client.callTool({ name: 'get-env', arguments: {} })));
      assert.equal(env[secretName], undefined);
      assert.doesNotMatch(JSON.stringify(env), /gateway-secret-that-must-not-leak/);
      assert.equal(env.CONFIGURED_FOR_CHILD, 'visible');
      assert.equal(env.PATH, process.env.PATH);
      // Under `node --test --experimental-test-coverage`, Node itself adds NODE_V8_COVERAGE to
      // every child it spawns; it is not inherited from the gateway's environment.
      const nodeAdded = process.env.NODE_V8_COVERAGE === undefined ? [] : ['NODE_V8_COVERAGE'];
      assert.deepEqual(
        Object.keys(env).filter(
          (name) => !['CONFIGURED_FOR_CHILD', 'PATH', ...nodeAdded].includes(name),
        ),
        [],
        'nothing else is inherited',
      );
    } finally {
      delete process.env[secretName];
    }
  });

  it("writes the child's stderr to the logs", async () => {
    const gateway = await gatewayWith(stdioTestUpstream());
    const client = await connect(gateway);
    const pid = textOf(await client.callTool({ name: 'pid', arguments: {} }));
    assert.ok(
      gateway.logs.some(
        (record) =>
          record.msg === 'upstream stderr' && record.stderr === `stdio test server ${pid} ready`,
      ),
    );
  });
});

describe('stdio upstream sessions', () => {
  it('runs one child per session', async () => {
    const gateway = await gatewayWith(stdioTestUpstream());
    const first = await connect(gateway);
    const second = await connect(gateway);
    const pids = await Promise.all(
      [first, second].map(async (client) =>
        textOf(await client.callTool({ name: 'pid', arguments: {} })),
      ),
    );
    assert.notEqual(pids[0], pids[1]);
  });

  it('gives a JSON-RPC error when the child is killed mid-call, and the next session works', async () => {
    const record = join(tempDir(), 'received.jsonl');
    const gateway = await gatewayWith(stdioTestUpstream({ env: { RECORD_FILE: record } }));
    const client = await connect(gateway);
    const pid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const call = client.callTool({ name: 'sleep', arguments: { ms: 60_000 } }, undefined, {
      onprogress: () => started(),
      timeout: 30_000,
    });
    await running; // the child is inside the call (it reported progress)
    process.kill(pid, 'SIGKILL');
    await assert.rejects(call, (error: Error & { code?: number }) => {
      assert.equal(error.code, -32000);
      assert.match(error.message, /upstream MCP server exited/);
      return true;
    });
    // The dead session is gone for good …
    await assert.rejects(client.callTool({ name: 'pid', arguments: {} }), /404|session/i);
    // … and a new session gets a new child.
    const next = await connect(gateway);
    const nextPid = Number(textOf(await next.callTool({ name: 'pid', arguments: {} })));
    assert.notEqual(nextPid, pid);
    assert.match(readFileSync(record, 'utf8'), /"name":"sleep"/);
  });

  it('bounds the children: a session beyond max_sessions gets 503 with Retry-After', async () => {
    const gateway = await gatewayWith(stdioTestUpstream({ max_sessions: 1 }));
    const session = await openSession(gateway.url());
    // An open GET stream makes the session active, so it cannot be made room from.
    const stream = new AbortController();
    const get = await fetch(gateway.url(), {
      headers: { accept: 'text/event-stream', 'mcp-session-id': session },
      signal: stream.signal,
    });
    assert.equal(get.status, 200);
    try {
      const refused = await request(gateway.url(), { headers: mcpHeaders(), body: INITIALIZE });
      assert.equal(refused.status, 503);
      assert.equal(refused.json?.code, 'CapacityExceeded');
      assert.match(String(refused.headers['retry-after']), /^\d+$/);
      // Positive control: the active session still works.
      const reply = await request(gateway.url(), {
        headers: mcpHeaders({ 'mcp-session-id': session }),
        body: toolCall('pid'),
      });
      assert.equal(reply.status, 200);
    } finally {
      stream.abort();
    }
  });

  it("at the cap, makes room from the same subject's inactive sessions only", async () => {
    const gateway = await gatewayWith(stdioTestUpstream({ max_sessions: 1 }));
    const abandoned = await openSession(gateway.url()); // no stream, no request in flight
    const next = await openSession(gateway.url());
    assert.notEqual(next, abandoned);
    const reply = await request(gateway.url(), {
      headers: mcpHeaders({ 'mcp-session-id': abandoned }),
      body: toolCall('pid'),
    });
    assert.equal(reply.status, 404);
  });

  it('closes idle sessions and stops their children', async () => {
    const gateway = await gatewayWith(stdioTestUpstream({ session_idle_timeout_seconds: 60 }));
    const session = await openSession(gateway.url());
    const sessions = gateway.running.gateway.sessions;
    assert.equal(sessions.size, 1);
    sessions.sweep(Date.now() + 30_000);
    assert.equal(sessions.size, 1, 'not idle long enough yet');
    sessions.sweep(Date.now() + 61_000);
    assert.equal(sessions.size, 0);
    const reply = await request(gateway.url(), {
      headers: mcpHeaders({ 'mcp-session-id': session }),
      body: toolCall('pid'),
    });
    assert.equal(reply.status, 404);
    assert.equal(reply.json?.code, 'McpSessionNotFound');
  });

  it('backs off after children that die before answering (crash loops): 503 with Retry-After', async () => {
    const gateway = await gatewayWith({
      name: 'broken',
      path: '/mcp',
      command: process.execPath,
      args: ['-e', 'process.exit(3)'],
      tool_scopes: {},
    });
    const first = await request(gateway.url(), { headers: mcpHeaders(), body: INITIALIZE });
    assert.equal(first.status, 200);
    const [answer] = messagesOf(first);
    const error = answer?.error as { code: number } | undefined;
    assert.equal(error?.code, -32000);
    const second = await request(gateway.url(), { headers: mcpHeaders(), body: INITIALIZE });
    assert.equal(second.status, 503);
    assert.equal(second.json?.code, 'UpstreamUnavailable');
    assert.match(String(second.headers['retry-after']), /^\d+$/);
  });

  it('answers with JSON when the client accepts only JSON, and DELETE ends the session', async () => {
    const gateway = await gatewayWith(stdioTestUpstream());
    const session = await openSession(gateway.url());
    const reply = await request(gateway.url(), {
      headers: mcpHeaders({ 'mcp-session-id': session, accept: 'application/json' }),
      body: toolCall('read_file', { path: 'j' }),
    });
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    assert.match(reply.body, /contents of j/);
    const deleted = await request(gateway.url(), {
      method: 'DELETE',
      headers: { 'mcp-session-id': session },
    });
    assert.equal(deleted.status, 200);
    assert.equal(gateway.running.gateway.sessions.size, 0);
  });

  it('refuses an unsupported MCP-Protocol-Version (MCP-09)', async () => {
    const gateway = await gatewayWith(stdioTestUpstream());
    const session = await openSession(gateway.url());
    const reply = await request(gateway.url(), {
      headers: mcpHeaders({ 'mcp-session-id': session, 'mcp-protocol-version': '1999-01-01' }),
      body: toolCall('read_file', { path: 'x' }),
    });
    assert.equal(reply.status, 400);
    assert.equal(reply.json?.code, 'RequestMalformed');
  });
});
