import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createLogger } from '../../src/lib/log.ts';
import { parseClientMessage } from '../../src/mcp/index.ts';
import { exchangeContext } from '../../src/proxy/modern/client-gone.ts';
import { ModernHttpForwarder } from '../../src/proxy/modern/http-forward.ts';
import { ModernUpstreamConnector } from '../../src/proxy/modern/modern-upstream-session.ts';
import { buildRouteTable } from '../../src/proxy/routes.ts';
import { newSessionId, type UpstreamSession } from '../../src/proxy/sessions.ts';
import { gatewayDocument, httpUpstream, loadTestConfig } from '../helpers/gateway.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

/**
 * A real 2025 client (@modelcontextprotocol/sdk 1.x) against the modern-only upstream, through
 * ModernUpstreamSession: a minimal HTTP front here only maps session ids to sessions (the
 * gateway's own front does that, bound to subjects, in the end-to-end tests).
 */
describe('legacy client → modern-only upstream (ModernUpstreamSession)', () => {
  let upstream: ModernUpstream;
  let connector: ModernUpstreamConnector;
  let front: http.Server;
  let url: string;
  const sessions = new Map<string, UpstreamSession>();

  before(async () => {
    upstream = await startModernUpstream();
    const loaded = loadTestConfig(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
    );
    const route = buildRouteTable(loaded).routes[0];
    assert.ok(route);
    const logger = createLogger({ level: 'silent' });
    connector = new ModernUpstreamConnector(
      route,
      new ModernHttpForwarder({ url: upstream.url, headers: {}, logger }),
      logger,
    );
    const principal = {
      subject: 'alice',
      clientId: 'c',
      scopes: new Set<string>(),
      tokenIdHash: undefined,
    };
    type Context = Parameters<UpstreamSession['get']>[0];
    const dispatch = async (method: string, body: Buffer, context: Context): Promise<Response> => {
      const sessionId = context.headers['mcp-session-id'];
      const known = sessionId === undefined ? undefined : sessions.get(sessionId);
      if (method !== 'POST') {
        if (known === undefined) return new Response(null, { status: 404 });
        return asResponse(
          method === 'GET' ? await known.get(context) : await known.delete(context),
        );
      }
      const session = known ?? connector.open(newSessionId(), principal);
      sessions.set(session.id, session);
      return asResponse(await session.post(parseClientMessage(body), undefined, context));
    };
    front = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
      );
      const context = exchangeContext(principal, 'r', headers, abort.signal);
      const response = await dispatch(req.method ?? '', Buffer.concat(chunks), context);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body === null) res.end();
      else Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(res);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/mcp`;
  });

  after(async () => {
    for (const session of sessions.values()) await session.close('test over');
    await connector.close();
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
    await upstream.close();
  });

  it('serves a 2025 client: initialize from discover, tools, progress, elicitation, list changes', async () => {
    const seenBefore = upstream.requests.length;
    const client = new Client(
      { name: 'legacy-client', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    );
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { ok: true },
    }));
    const transport = new StreamableHTTPClientTransport(new URL(url));
    await client.connect(transport);
    try {
      assert.equal(client.getServerVersion()?.name, 'modern-upstream');
      assert.ok(client.getServerCapabilities()?.tools);
      const tools = await client.listTools();
      assert.ok(tools.tools.some((tool) => tool.name === 'echo'));
      assert.equal((tools as Record<string, unknown>).resultType, undefined);
      const echoed = await client.callTool({ name: 'echo', arguments: { text: 'héllo' } });
      assert.deepEqual(echoed.content, [{ type: 'text', text: 'héllo' }]);
      const steps: number[] = [];
      await client.callTool({ name: 'progress', arguments: {} }, undefined, {
        onprogress: (progress) => steps.push(progress.progress),
      });
      assert.deepEqual(steps, [1, 2, 3]);
      const confirmed = await client.callTool({ name: 'confirm', arguments: { what: 'deploy' } });
      assert.deepEqual(confirmed.content, [{ type: 'text', text: 'confirmed deploy: true' }]);
      const changed = new Promise<void>((resolve) => {
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve());
      });
      // The SDK opens its GET stream after initialize; wait until the upstream has the listen.
      while (!upstream.methods().slice(seenBefore).includes('subscriptions/listen')) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      upstream.toolsChanged();
      await changed;
    } finally {
      await client.close();
    }
    const methods = upstream.methods().slice(seenBefore);
    assert.ok(!methods.includes('initialize'), 'the modern upstream never sees initialize');
    assert.ok(methods.includes('server/discover'));
    assert.equal(upstream.toolCalls().filter((name) => name === 'confirm').length, 2, 'one retry');
  });
});

/** Any answer a session gives, as a Web Response (bounded answers carry their body whole). */
function asResponse(answer: Awaited<ReturnType<UpstreamSession['post']>>): Response {
  if (answer instanceof Response) return answer;
  const bounded = answer as {
    status: number;
    headers: Record<string, string>;
    body?: string | Uint8Array<ArrayBuffer>;
  };
  return new Response(bounded.body ?? null, { status: bounded.status, headers: bounded.headers });
}
