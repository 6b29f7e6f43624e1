import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { mcpHeaders, openSession, request, toolCall } from '../helpers/http-client.ts';

/**
 * An upstream whose answer stops before its declared length: the gateway reads small answers of
 * declared length whole, so it must notice the cut and answer 502, not relay half a body or
 * fail with 500. A minimal JSON-RPC server over node:http (the SDK servers never cut their own
 * answers): initialize and notifications answer properly; `tools/call` of `cut` declares 100
 * bytes, sends 10 and drops the connection; any other call is answered whole.
 */
function startCuttingUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id?: number;
        method: string;
        params?: { name?: string };
      };
      if (message.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      if (message.method === 'tools/call' && message.params?.name === 'cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"jsonrpc"');
        setImmediate(() => res.socket?.destroy());
        return;
      }
      const result =
        message.method === 'initialize'
          ? {
              protocolVersion: '2025-11-25',
              capabilities: { tools: {} },
              serverInfo: { name: 'cutting', version: '1' },
            }
          : { content: [{ type: 'text', text: 'whole' }] };
      const body = JSON.stringify({ jsonrpc: '2.0', id: message.id, result });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        ...(message.method === 'initialize' ? { 'mcp-session-id': 'upstream-session-1' } : {}),
      });
      res.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('an upstream answer cut short', () => {
  let upstream: Server;
  let gateway: TestGateway;
  let session: string;

  before(async () => {
    upstream = await startCuttingUpstream();
    const { port } = upstream.address() as AddressInfo;
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        upstreams: [
          httpUpstream(`http://127.0.0.1:${port}/mcp`, {
            tool_scopes: { cut: 'files:read', whole: 'files:read' },
          }),
        ],
      }),
    );
    session = await openSession(gateway.url());
  });

  after(async () => {
    await gateway?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  const call = (name: string) =>
    request(gateway.url(), {
      headers: mcpHeaders({ 'mcp-session-id': session }),
      body: toolCall(name),
    });

  it('is answered 502 UpstreamFailed, with no part of the cut body', async () => {
    const reply = await call('cut');
    assert.equal(reply.status, 502);
    assert.equal(reply.json?.code, 'UpstreamFailed');
    assert.doesNotMatch(reply.body, /"jsonrpc"$/);
  });

  it('positive control: a whole answer from the same upstream is relayed', async () => {
    const reply = await call('whole');
    assert.equal(reply.status, 200);
    assert.match(reply.body, /"text":"whole"/);
  });
});
