/**
 * The benchmark upstream: a minimal JSON-RPC echo over HTTP. Answers initialize and tools/list
 * as an MCP server with one tool, `echo`, and any other request with a result that echoes the
 * params, as JSON. A GET opens a server-to-client SSE stream (MCP Streamable
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
    let method: unknown;
    let params: unknown = null;
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
    const body = JSON.stringify({ jsonrpc: '2.0', id, result: resultFor(method, params) });
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;

/**
 * What a client that checks the protocol (FastMCP's proxy, say) needs to start: a valid
 * initialize result and the one tool. Everything else, the measured tools/call included, is
 * answered with its params echoed back.
 */
function resultFor(method: unknown, params: unknown): unknown {
  // MCP 2026-07-28 server/discover, so that a route with protocol auto or 2026-07-28 sees a
  // stateless upstream.
  if (method === 'server/discover') {
    return { supportedVersions: ['2026-07-28'], capabilities: { tools: {} } };
  }
  if (method === 'initialize') {
    const requested = (params as { protocolVersion?: unknown } | null)?.protocolVersion;
    return {
      protocolVersion: typeof requested === 'string' ? requested : '2025-06-18',
      capabilities: { tools: {} },
      serverInfo: { name: 'echo-upstream', version: '1.0.0' },
    };
  }
  if (method === 'tools/list') {
    return {
      tools: [
        {
          name: 'echo',
          description: 'Echoes its arguments.',
          inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
        },
      ],
    };
  }
  return { content: [{ type: 'text', text: JSON.stringify(params) }] };
}
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`READY ${typeof address === 'object' && address ? address.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
