import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { readOpening, runStdioBridge } from '../../src/client/stdio-bridge.ts';
import { type ModernOnlyServer, startModernOnlyServer } from './helpers/modern-only-server.ts';
import { type ScriptedServer, startScriptedServer } from './helpers/scripted-server.ts';

/**
 * `portcullis connect` run in-process on in-memory stdio: the local client's era is read from
 * its opening message, a remote that cannot be reached answers that opening with an error
 * instead of leaving the client waiting, and a 2025 client reaches a 2026-only server.
 */

describe('readOpening: the local client era and capabilities', () => {
  const cases: { name: string; message: unknown; opening: unknown }[] = [
    {
      name: 'initialize without params',
      message: { jsonrpc: '2.0', id: 1, method: 'initialize' },
      opening: { era: 'legacy', capabilities: {} },
    },
    {
      name: 'initialize with capabilities and clientInfo',
      message: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { capabilities: { roots: {} }, clientInfo: { name: 'c', version: '1' } },
      },
      opening: {
        era: 'legacy',
        capabilities: { roots: {} },
        clientInfo: { name: 'c', version: '1' },
      },
    },
    {
      name: 'a notification without params',
      message: { jsonrpc: '2.0', method: 'notifications/initialized' },
      opening: { era: 'modern', capabilities: {} },
    },
    {
      name: 'a request with params but no _meta',
      message: { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
      opening: { era: 'modern', capabilities: {} },
    },
    {
      name: 'a 2026-07-28 request with the _meta envelope (positive control)',
      message: {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/list',
        params: {
          _meta: {
            'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
            'io.modelcontextprotocol/clientInfo': { name: 'm', version: '2' },
          },
        },
      },
      opening: {
        era: 'modern',
        capabilities: { sampling: {} },
        clientInfo: { name: 'm', version: '2' },
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(readOpening(c.message as Parameters<typeof readOpening>[0]), c.opening);
    });
  }
});

/** Lines the bridge writes, parsed as they arrive. */
function lines(output: PassThrough): { next(): Promise<Record<string, unknown>> } {
  const queue: Record<string, unknown>[] = [];
  const waiters: ((value: Record<string, unknown>) => void)[] = [];
  let buffer = '';
  output.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let index = buffer.indexOf('\n');
    while (index !== -1) {
      const message = JSON.parse(buffer.slice(0, index)) as Record<string, unknown>;
      buffer = buffer.slice(index + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
      index = buffer.indexOf('\n');
    }
  });
  return {
    next: () => {
      const ready = queue.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: { elicitation: {}, sampling: {}, roots: { listChanged: true } },
    clientInfo: { name: 'local', version: '1' },
  },
};

describe('runStdioBridge', () => {
  let refusing: ScriptedServer;
  let modern: ModernOnlyServer;
  before(async () => {
    refusing = await startScriptedServer();
    modern = await startModernOnlyServer();
  });
  after(async () => {
    await refusing?.close();
    await modern?.close();
  });

  it('the local side closes before saying anything: resolves, nothing sent anywhere', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const written: Buffer[] = [];
    output.on('data', (chunk: Buffer) => written.push(chunk));
    const notices: string[] = [];
    const run = runStdioBridge({
      serverUrl: new URL(`${refusing.origin}/mcp`),
      fetch,
      input,
      output,
      notice: (text) => notices.push(text),
    });
    input.end();
    await run;
    assert.equal(Buffer.concat(written).length, 0);
    assert.equal(refusing.requests.length, 0);
    assert.deepEqual(notices, []);
  });

  it('a remote that refuses the connection: the opening request gets error -32001, the run rejects', async () => {
    refusing.answer('/mcp', { status: 500, body: 'broken upstream' });
    const input = new PassThrough();
    const output = new PassThrough();
    const reader = lines(output);
    const run = runStdioBridge({
      serverUrl: new URL(`${refusing.origin}/mcp`),
      fetch,
      input,
      output,
      notice: () => undefined,
      protocol: '2025-11-25',
    });
    const failed = run.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    input.write(`${JSON.stringify(initialize)}\n`);
    const answer = await reader.next();
    assert.equal(answer.id, 1);
    const error = answer.error as { code: number; message: string };
    assert.equal(error.code, -32001);
    assert.ok(error.message.startsWith('portcullis: '), error.message);
    const thrown = await failed;
    assert.ok(thrown instanceof Error);
    assert.equal(error.message, `portcullis: ${thrown.message}`);
    assert.ok(refusing.requests.length >= 1);
  });

  it('positive control: a 2025 client reaches a 2026-only server through the translating bridge', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const reader = lines(output);
    const notices: string[] = [];
    const run = runStdioBridge({
      serverUrl: new URL(modern.url),
      fetch,
      input,
      output,
      notice: (text) => notices.push(text),
    });
    input.write(`${JSON.stringify(initialize)}\n`);
    const answer = await reader.next();
    assert.equal(answer.id, 1);
    const result = answer.result as { serverInfo: { name: string } };
    assert.equal(result.serverInfo.name, 'modern-only');
    input.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    input.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } })}\n`,
    );
    const call = await reader.next();
    assert.equal(call.id, 2);
    assert.match(JSON.stringify(call.result), /echo: hi/);
    assert.match(notices[0] ?? '', /\(MCP 2026-07-28\); local client speaks 2025\.$/);
    input.end();
    await run;
  });
});
