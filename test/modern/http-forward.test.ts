import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/lib/log.ts';
import { classifyInbound, type ModernRequest } from '../../src/mcp/modern/inbound.ts';
import { markPrivate } from '../../src/mcp/modern/results.ts';
import {
  type ModernForwardInput,
  ModernHttpForwarder,
} from '../../src/proxy/modern/http-forward.ts';
import { asResponse } from '../helpers/answers.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
};

function modern(
  id: number,
  method: string,
  params: Record<string, unknown>,
  extraHeaders: Record<string, string> = {},
) {
  const body = {
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: { ...META, ...(params._meta as object) } },
  };
  const headers: Record<string, string> = {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...extraHeaders,
  };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const outcome = classifyInbound({ httpMethod: 'POST', headers, body });
  assert.equal(outcome.kind, 'modern');
  return { request: (outcome as { request: ModernRequest }).request, text: JSON.stringify(body) };
}

async function sseMessages(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  return text
    .split(/\n\n/)
    .flatMap((block) => block.split('\n').filter((line) => line.startsWith('data: ')))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
}

describe('modern forwarding to a modern upstream', () => {
  let upstream: ModernUpstream;
  let forwarder: ModernHttpForwarder;
  /** The forwarder's answer, read here with the Fetch API whatever its shape. */
  const forward = (input: ModernForwardInput) => forwarder.forward(input).then(asResponse);
  before(async () => {
    upstream = await startModernUpstream();
    forwarder = new ModernHttpForwarder({
      url: upstream.url,
      headers: { 'x-upstream-key': 'gateway-own' },
      logger: createLogger({ level: 'silent' }),
    });
  });
  after(async () => {
    await forwarder.close();
    await upstream.close();
  });

  it('sends the validated headers, Mcp-Param-*, config headers, and nothing of the client', async () => {
    const { request, text } = modern(
      1,
      'tools/call',
      { name: 'echo', arguments: { text: 'hé' } },
      {
        'mcp-param-region': 'eu',
        'mcp-session-id': 'stray',
        authorization: 'Bearer client-token',
      },
    );
    const response = await forward({
      request,
      text,
      signal: new AbortController().signal,
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { result: { content: unknown } };
    assert.deepEqual(body.result.content, [{ type: 'text', text: 'hé' }]);
    const seen = upstream.requests.at(-1);
    assert.ok(seen);
    assert.equal(seen.headers['mcp-method'], 'tools/call');
    assert.equal(seen.headers['mcp-name'], 'echo');
    assert.equal(seen.headers['mcp-protocol-version'], '2026-07-28');
    assert.equal(seen.headers['mcp-param-region'], 'eu');
    assert.equal(seen.headers['x-upstream-key'], 'gateway-own');
    assert.equal(seen.headers['mcp-session-id'], undefined);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.body, text);
  });

  it('relays progress on the request stream with X-Accel-Buffering: no', async () => {
    const { request, text } = modern(2, 'tools/call', {
      name: 'progress',
      arguments: {},
      _meta: { progressToken: 'p1' },
    });
    const response = await forward({
      request,
      text,
      signal: new AbortController().signal,
    });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    assert.equal(response.headers.get('x-accel-buffering'), 'no');
    const messages = await sseMessages(response);
    assert.deepEqual(
      messages
        .filter((m) => m.method === 'notifications/progress')
        .map((m) => (m.params as { progress: number }).progress),
      [1, 2, 3],
    );
    assert.equal(messages.at(-1)?.id, 2);
  });

  it('rewrites a filtered list and marks it private', async () => {
    const { request, text } = modern(3, 'tools/list', {});
    const response = await forward({
      request,
      text,
      signal: new AbortController().signal,
      filter: (message) => {
        const result = message.result as Record<string, unknown>;
        const tools = (result.tools as { name: string }[]).filter((tool) => tool.name === 'echo');
        return JSON.stringify({ ...message, result: markPrivate({ ...result, tools }) });
      },
    });
    const messages = response.headers.get('content-type')?.startsWith('text/event-stream')
      ? await sseMessages(response)
      : [(await response.json()) as Record<string, unknown>];
    const result = messages.at(-1)?.result as { tools: { name: string }[]; cacheScope: string };
    assert.deepEqual(
      result.tools.map((tool) => tool.name),
      ['echo'],
    );
    assert.equal(result.cacheScope, 'private');
  });

  it("relays the upstream's 404 / -32601 for a method it does not know", async () => {
    const { request, text } = modern(4, 'nope/unknown', {});
    const response = await forward({
      request,
      text,
      signal: new AbortController().signal,
      filter: () => 'never',
    });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: number } };
    assert.equal(body.error.code, -32601);
  });

  it('cancels the upstream request when the client closes the stream', async () => {
    const { request, text } = modern(5, 'tools/call', { name: 'wait', arguments: { tag: 'c1' } });
    const client = new AbortController();
    const pending = forward({ request, text, signal: client.signal });
    // The upstream has the request once it recorded it; then the client leaves.
    while (!upstream.toolCalls().includes('wait'))
      await new Promise((resolve) => setImmediate(resolve));
    client.abort();
    await pending.then((response) => response.body?.cancel()).catch(() => {});
    while (!upstream.cancelled.includes('c1'))
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(upstream.cancelled, ['c1']);
  });
});
