import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

/**
 * The modern-only test upstream is a real 2026-07-28 server: a pinned v2 client works against
 * it, and a 2025 initialize is refused with 400 / -32022.
 */
describe('modern-only test upstream', () => {
  let upstream: ModernUpstream;
  before(async () => {
    upstream = await startModernUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  it('refuses initialize with 400 / -32022 listing its versions', async () => {
    const response = await fetch(upstream.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 't', version: '1' },
        },
      }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as {
      error: { code: number; data: { supported: string[] } };
    };
    assert.equal(body.error.code, -32022);
    assert.ok(body.error.data.supported.includes('2026-07-28'));
  });

  it('answers GET with 405', async () => {
    const response = await fetch(upstream.url, { headers: { accept: 'text/event-stream' } });
    assert.equal(response.status, 405);
    await response.body?.cancel();
  });

  it('serves a pinned 2026-07-28 client: discover, tools, progress, elicitation, listen', async () => {
    const seenBefore = upstream.requests.length;
    const client = new Client(
      { name: 'pinned', version: '1.0.0' },
      {
        capabilities: { elicitation: {} },
        versionNegotiation: { mode: { pin: '2026-07-28' } },
      },
    );
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept',
      content: { ok: true },
    }));
    await client.connect(new StreamableHTTPClientTransport(new URL(upstream.url)));
    try {
      const discover = client.getDiscoverResult();
      assert.ok(discover?.supportedVersions.includes('2026-07-28'));
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((tool) => tool.name).sort(), [
        'confirm',
        'echo',
        'progress',
        'wait',
      ]);
      const echoed = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      assert.deepEqual(echoed.content, [{ type: 'text', text: 'hi' }]);
      const steps: number[] = [];
      await client.callTool(
        { name: 'progress', arguments: {} },
        { onprogress: (progress) => steps.push(progress.progress) },
      );
      assert.deepEqual(steps, [1, 2, 3]);
      const confirmed = await client.callTool({ name: 'confirm', arguments: { what: 'deploy' } });
      assert.deepEqual(confirmed.content, [{ type: 'text', text: 'confirmed deploy: true' }]);
      const changed = new Promise<void>((resolve) => {
        client.setNotificationHandler('notifications/tools/list_changed', () => resolve());
      });
      const subscription = await client.listen({ toolsListChanged: true });
      upstream.toolsChanged();
      await changed;
      await subscription.close();
    } finally {
      await client.close();
    }
    const methods = upstream.methods().slice(seenBefore);
    assert.ok(methods.includes('server/discover'));
    assert.ok(!methods.includes('initialize'));
  });
});
