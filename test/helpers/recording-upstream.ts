import { randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createTestMcpServer } from './mcp-test-server.ts';

/** One request as the upstream received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** JSON-RPC methods the upstream received, in order. */
  methods(): string[];
  /** tools/call names the upstream received. */
  toolCalls(): string[];
  /** Makes every answer a 401 with a challenge, as an upstream that rejects the gateway. */
  rejectWith401: boolean;
  close(): Promise<void>;
}

/**
 * A real Streamable HTTP MCP server (the SDK's transport and McpServer, stateful sessions) on
 * 127.0.0.1:0 that records every request it receives, for "the upstream saw nothing" assertions.
 */
export async function startRecordingUpstream(
  options: { jsonResponse?: boolean } = {},
): Promise<RecordingUpstream> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const requests: RecordedRequest[] = [];
  const state = { rejectWith401: false };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    requests.push({ method: req.method ?? '', headers: req.headers, body });
    if (state.rejectWith401) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="upstream"', 'set-cookie': 'a=b' });
      res.end('{"error":"unauthorized"}');
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (transport === undefined) {
      if (sessionId !== undefined) {
        res.writeHead(404).end();
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: options.jsonResponse ?? false,
        onsessioninitialized: (id) => {
          transports.set(id, created);
        },
      });
      await createTestMcpServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body === '' ? undefined : JSON.parse(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const parsedBodies = () =>
    requests
      .filter((request) => request.body !== '')
      .map(
        (request) => JSON.parse(request.body) as { method?: string; params?: { name?: string } },
      );
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    methods: () => parsedBodies().flatMap((message) => (message.method ? [message.method] : [])),
    toolCalls: () =>
      parsedBodies()
        .filter((message) => message.method === 'tools/call')
        .map((message) => message.params?.name ?? ''),
    get rejectWith401() {
      return state.rejectWith401;
    },
    set rejectWith401(value: boolean) {
      state.rejectWith401 = value;
    },
    async close() {
      for (const transport of transports.values()) await transport.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
