import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  acceptedContent,
  createMcpHandler,
  inputRequired,
  McpServer,
} from '@modelcontextprotocol/server';
import { z } from 'zod';

/** One request as the upstream received it. */
export interface ModernRecordedRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface ModernUpstream {
  readonly url: string;
  readonly requests: ModernRecordedRequest[];
  /** JSON-RPC methods received, in order (GET/DELETE recorded as "GET"/"DELETE"). */
  methods(): string[];
  /** tools/call names received. */
  toolCalls(): string[];
  /** Calls of the `wait` tool that ended because their stream was closed (cancellation). */
  readonly cancelled: string[];
  /** Publishes notifications/tools/list_changed to every open subscriptions/listen stream. */
  toolsChanged(): void;
  close(): Promise<void>;
}

/**
 * A 2026-07-28-only MCP server on @modelcontextprotocol/server 2.4.0 (`legacy: 'reject'`: an
 * initialize is answered 400 / -32022) on 127.0.0.1:0, recording every request it receives.
 *
 * Tools: `echo` (text back), `progress` (three notifications/progress on the request's stream,
 * then a result), `confirm` (an elicitation through an InputRequiredResult, then the answer),
 * `wait` (never answers; records its cancellation when the stream closes). The listen stream is
 * the SDK's; toolsChanged() publishes on it.
 */
export async function startModernUpstream(): Promise<ModernUpstream> {
  const requests: ModernRecordedRequest[] = [];
  const cancelled: string[] = [];

  const factory = () => {
    const server = new McpServer(
      { name: 'modern-upstream', version: '1.0.0' },
      { capabilities: { tools: { listChanged: true }, logging: {} } },
    );
    server.registerTool(
      'echo',
      { description: 'Echoes its text', inputSchema: z.object({ text: z.string() }) },
      async ({ text }) => ({ content: [{ type: 'text', text }] }),
    );
    server.registerTool(
      'progress',
      { description: 'Reports progress three times', inputSchema: z.object({}) },
      async (_args, ctx) => {
        const token = ctx.mcpReq._meta?.progressToken;
        if (token !== undefined) {
          for (let step = 1; step <= 3; step += 1) {
            await ctx.mcpReq.notify({
              method: 'notifications/progress',
              params: { progressToken: token, progress: step, total: 3 },
            });
          }
        }
        return { content: [{ type: 'text', text: 'done' }] };
      },
    );
    server.registerTool(
      'confirm',
      { description: 'Asks the user to confirm', inputSchema: z.object({ what: z.string() }) },
      async ({ what }, ctx) => {
        const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm');
        if (answer === undefined) {
          return inputRequired({
            inputRequests: {
              confirm: inputRequired.elicit({
                message: `Really ${what}?`,
                requestedSchema: {
                  type: 'object',
                  properties: { ok: { type: 'boolean' } },
                  required: ['ok'],
                },
              }),
            },
          });
        }
        return { content: [{ type: 'text', text: `confirmed ${what}: ${String(answer.ok)}` }] };
      },
    );
    server.registerTool(
      'wait',
      { description: 'Never answers', inputSchema: z.object({ tag: z.string() }) },
      async ({ tag }, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.mcpReq.signal.addEventListener('abort', () => {
            cancelled.push(tag);
            reject(new Error('cancelled'));
          });
        }),
    );
    return server;
  };

  const handler = createMcpHandler(factory, { legacy: 'reject', keepAliveMs: 200 });

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? '', headers: req.headers, body: body.toString('utf8') });
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.set(name, value);
      else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    }
    const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, {
      method: req.method ?? 'GET',
      headers,
      signal: abort.signal,
      ...(req.method === 'POST' ? { body } : {}),
    });
    try {
      const response = await handler.fetch(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body === null) {
        res.end();
        return;
      }
      const stream = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const bodies = () =>
    requests.flatMap((request) => {
      if (request.method !== 'POST') return [{ method: request.method } as Record<string, unknown>];
      try {
        return [JSON.parse(request.body) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    cancelled,
    methods: () => bodies().map((body) => String(body.method)),
    toolCalls: () =>
      bodies()
        .filter((body) => body.method === 'tools/call')
        .map((body) => String((body.params as Record<string, unknown> | undefined)?.name)),
    toolsChanged: () => handler.notify.toolsChanged(),
    async close() {
      await handler.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
