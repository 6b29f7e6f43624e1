import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FetchLike } from '../../src/client/auth-fetch.ts';
import { watchListeningStream } from '../../src/client/listening-stream.ts';
import { runStdioBridge } from '../../src/client/stdio-bridge.ts';

/**
 * A 2025 server may send its own requests on the listening (GET) stream, even while a tool call
 * runs, and drops them when that stream is not open yet (the official SDK server does). The
 * bridge relays the local client's messages that follow `notifications/initialized` only once
 * the remote has answered the listening stream, so such an elicitation reaches the local client
 * however slowly the stream opens.
 */

/**
 * Stateful SDK server. `ask` elicits with `server.elicitInput`, which names no related request,
 * so the question goes out on the GET stream; `hello` asks nothing.
 */
interface ElicitingServer {
  readonly url: string;
  /** What reached the server, in arrival order: `GET`, or the JSON-RPC method of a POST. */
  readonly arrivals: string[];
  close(): Promise<void>;
}

async function startElicitingServer(options: { listening: boolean }): Promise<ElicitingServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const arrivals: string[] = [];
  const newMcpServer = () => {
    const mcp = new McpServer({ name: 'eliciting', version: '1.0.0' });
    mcp.registerTool('ask', { description: 'Asks the user for a colour' }, async () => {
      const answer = await mcp.server.elicitInput({
        message: 'Your colour?',
        requestedSchema: { type: 'object', properties: { colour: { type: 'string' } } },
      });
      return { content: [{ type: 'text', text: `${answer.action}: ${answer.content?.colour}` }] };
    });
    mcp.registerTool('hello', { description: 'Says hello' }, async () => ({
      content: [{ type: 'text', text: 'hello' }],
    }));
    return mcp;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    const method = (body as { method?: string } | undefined)?.method;
    arrivals.push(req.method === 'GET' ? 'GET' : (method ?? 'response'));
    if (req.method === 'GET' && !options.listening) {
      res.writeHead(405, { allow: 'POST, DELETE' }).end();
      return;
    }
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (transport === undefined) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => {
          sessions.set(sessionId, created);
        },
      });
      await newMcpServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      void handle(req, res, text ? JSON.parse(text) : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    arrivals,
    async close() {
      for (const transport of sessions.values()) await transport.close().catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fetch that holds the GET stream back, as a loaded machine does: it is let through when a
 * tool call is sent while it is held (recorded: the race the bridge must not run), or after
 * 25 ms. The verdict does not depend on the delay: a bridge that waits always sends the call
 * after the GET was answered.
 */
function slowListeningFetch(): { fetch: FetchLike; log: string[] } {
  const log: string[] = [];
  /** Lets every held GET through at once. */
  const held = new Set<() => void>();
  const fetchLike: FetchLike = async (input, init) => {
    const method = init?.method ?? 'GET';
    if (method === 'GET') {
      log.push('GET sent');
      let letThrough = () => {};
      await new Promise<void>((resolve) => {
        letThrough = resolve;
        held.add(resolve);
        setTimeout(resolve, 25);
      });
      held.delete(letThrough);
      const response = await fetch(input, init);
      log.push('GET answered');
      return response;
    }
    const body =
      typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string }) : {};
    log.push(`${method} ${body.method ?? 'response'}`);
    if (body.method === 'tools/call') for (const release of held) release();
    return fetch(input, init);
  };
  return { fetch: fetchLike, log };
}

/** Lines the bridge writes, parsed as they arrive. */
function lines(output: PassThrough): () => Promise<Record<string, unknown>> {
  const queue: Record<string, unknown>[] = [];
  const waiters: ((value: Record<string, unknown>) => void)[] = [];
  let buffer = '';
  output.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    for (let index = buffer.indexOf('\n'); index !== -1; index = buffer.indexOf('\n')) {
      const message = JSON.parse(buffer.slice(0, index)) as Record<string, unknown>;
      buffer = buffer.slice(index + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    }
  });
  return () => {
    const ready = queue.shift();
    return ready ? Promise.resolve(ready) : new Promise((resolve) => waiters.push(resolve));
  };
}

const send = (input: PassThrough, message: object) => input.write(`${JSON.stringify(message)}\n`);

describe('portcullis connect: a 2025 client waits for the remote listening stream', () => {
  let listening: ElicitingServer;
  let refusing: ElicitingServer;
  before(async () => {
    listening = await startElicitingServer({ listening: true });
    refusing = await startElicitingServer({ listening: false });
  });
  after(async () => {
    await listening?.close();
    await refusing?.close();
  });

  for (const server of ['listening', 'refusing'] as const) {
    const title =
      server === 'listening'
        ? 'an elicitation sent on a slow GET stream during a tool call reaches the local client'
        : 'positive control: a server without a GET stream (405) is relayed without one';
    it(title, { timeout: 20_000 }, async () => {
      const remote = server === 'listening' ? listening : refusing;
      const { fetch: slowFetch, log } = slowListeningFetch();
      const input = new PassThrough();
      const output = new PassThrough();
      const next = lines(output);
      const run = runStdioBridge({
        serverUrl: new URL(remote.url),
        fetch: slowFetch,
        input,
        output,
        notice: () => undefined,
        protocol: '2025-11-25',
      });
      send(input, {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: { elicitation: {} },
          clientInfo: { name: 'local', version: '1' },
        },
      });
      assert.equal((await next()).id, 1);
      // As the SDK client does: the notification and the first request in the same turn.
      send(input, { jsonrpc: '2.0', method: 'notifications/initialized' });
      const tool = server === 'listening' ? 'ask' : 'hello';
      send(input, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: tool } });
      if (server === 'listening') {
        const question = await next();
        assert.equal(question.method, 'elicitation/create');
        send(input, {
          jsonrpc: '2.0',
          id: question.id,
          result: { action: 'accept', content: { colour: 'teal' } },
        });
      }
      const answer = await next();
      assert.equal(answer.id, 2);
      const text = JSON.stringify(answer.result ?? answer.error);
      assert.match(text, server === 'listening' ? /accept: teal/ : /"text":"hello"/);
      const start = log.lastIndexOf('POST notifications/initialized');
      assert.deepEqual(log.slice(start, start + 4), [
        'POST notifications/initialized',
        'GET sent',
        'GET answered',
        'POST tools/call',
      ]);
      const call = remote.arrivals.lastIndexOf('tools/call');
      assert.ok(remote.arrivals.lastIndexOf('GET') < call, remote.arrivals.join(', '));
      input.end();
      await run;
    });
  }
});

describe('portcullis connect: a 2026-07-28 client bridged to a 2025 server waits for its listening stream', () => {
  let remote: ElicitingServer;
  before(async () => {
    remote = await startElicitingServer({ listening: true });
  });
  after(async () => {
    await remote?.close();
  });
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
    'io.modelcontextprotocol/clientInfo': { name: 'local', version: '2' },
  };

  it('the question sent on a slow GET stream comes back as input_required, the retry answers it', {
    timeout: 20_000,
  }, async () => {
    const { fetch: slowFetch, log } = slowListeningFetch();
    const input = new PassThrough();
    const output = new PassThrough();
    const next = lines(output);
    const run = runStdioBridge({
      serverUrl: new URL(remote.url),
      fetch: slowFetch,
      input,
      output,
      notice: () => undefined,
      protocol: '2025-11-25',
    });
    send(input, {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'ask', arguments: {}, _meta: meta },
    });
    const first = await next();
    assert.equal(first.id, 1);
    const asked = first.result as {
      resultType: string;
      inputRequests: Record<string, { method: string }>;
      requestState: string;
    };
    assert.equal(asked.resultType, 'input_required', JSON.stringify(first));
    const [key, question] = Object.entries(asked.inputRequests)[0] ?? [];
    assert.equal(question?.method, 'elicitation/create');
    send(input, {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: {
        name: 'ask',
        arguments: {},
        inputResponses: { [String(key)]: { action: 'accept', content: { colour: 'teal' } } },
        requestState: asked.requestState,
        _meta: meta,
      },
    });
    const answer = await next();
    assert.equal(answer.id, 2);
    assert.match(JSON.stringify(answer.result), /accept: teal/);
    assert.deepEqual(log, [
      'POST initialize',
      'POST notifications/initialized',
      'GET sent',
      'GET answered',
      'POST tools/call',
      'POST response',
    ]);
    input.end();
    await run;
  });
});

describe('watchListeningStream', () => {
  const initialized = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const answering =
    (status: number): FetchLike =>
    async () =>
      new Response(null, { status });

  it('nothing accepted yet: ready at once, a GET passes through', async () => {
    const watch = watchListeningStream(answering(405));
    await watch.ready();
    assert.equal((await watch.fetch('http://127.0.0.1:9/mcp')).status, 405);
  });

  it('a notification answered 200 instead of 202 opens no stream: ready at once', async () => {
    const watch = watchListeningStream(answering(200), 3_600_000);
    await watch.fetch('http://127.0.0.1:9/mcp', { method: 'POST', body: initialized });
    await watch.ready();
  });

  it('another message accepted with 202 opens no stream: ready at once', async () => {
    const watch = watchListeningStream(answering(202), 3_600_000);
    const response = JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} });
    await watch.fetch('http://127.0.0.1:9/mcp', { method: 'POST', body: response });
    await watch.fetch('http://127.0.0.1:9/mcp', { method: 'POST', body: 'not json' });
    await watch.ready();
  });

  it('a GET that fails still settles the wait (the stream is optional)', async () => {
    let calls = 0;
    const watch = watchListeningStream(async (_input, init) => {
      calls++;
      if (init?.method === 'GET') throw new TypeError('fetch failed');
      return new Response(null, { status: 202 });
    }, 3_600_000);
    await watch.fetch('http://127.0.0.1:9/mcp', { method: 'POST', body: initialized });
    const waiting = watch.ready();
    await assert.rejects(watch.fetch('http://127.0.0.1:9/mcp', { method: 'GET' }), TypeError);
    await waiting;
    assert.equal(calls, 2);
  });

  it('a GET that is never sent: ready after the bound', async () => {
    const watch = watchListeningStream(answering(202), 1);
    await watch.fetch('http://127.0.0.1:9/mcp', { method: 'POST', body: initialized });
    await watch.ready();
  });
});
