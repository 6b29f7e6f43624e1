/**
 * The benchmark upstream: a minimal JSON-RPC echo over HTTP. Answers any request with a result
 * that echoes the params, as JSON. A GET opens a server-to-client SSE stream (MCP Streamable
 * HTTP) that stays open, quiet, until the client leaves. Prints `READY <port>`.
 */
import { createServer } from 'node:http';

const server = createServer((request, response) => {
  if (request.method === 'GET') {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    response.flushHeaders();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let id: unknown = null;
    let params: unknown = null;
    let method: unknown;
    try {
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id?: unknown;
        method?: unknown;
        params?: unknown;
      };
      id = message.id ?? null;
      method = message.method;
      params = message.params ?? null;
    } catch {
      response.writeHead(400).end();
      return;
    }
    if (id === null) {
      response.writeHead(202).end();
      return;
    }
    // MCP 2026-07-28 server/discover, so that a route with protocol auto or 2026-07-28 sees a
    // stateless upstream; every other request (either era) is echoed.
    const result =
      method === 'server/discover'
        ? { supportedVersions: ['2026-07-28'], capabilities: { tools: {} } }
        : { content: [{ type: 'text', text: JSON.stringify(params) }] };
    const body = JSON.stringify({ jsonrpc: '2.0', id, result });
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`READY ${typeof address === 'object' && address ? address.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
