import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  acceptedContent,
  createMcpHandler,
  inputRequired,
  McpServer,
} from '@modelcontextprotocol/server';
import { z } from 'zod';

/**
 * A Streamable HTTP MCP server that speaks only MCP 2026-07-28, built on
 * @modelcontextprotocol/server 2.4.0 with `legacy: 'reject'`: `server/discover` works, an
 * `initialize` gets the unsupported-version error. Its tools cover what the bridge relays:
 * - `echo` {text}: plain call;
 * - `progress` {steps}: one progress notification per step;
 * - `ask`: answers `input_required` with an elicitation, then reports the answer;
 * - `wait`: runs until cancelled, and records the cancellation.
 * It records the `Mcp-Method` header and the era markers of each request for the tests.
 */
export interface ModernOnlyServer {
  readonly url: string;
  /** Requests received: method, `Mcp-Method` header, body `_meta` protocol version. */
  readonly requests: { method: string; request: boolean; mcpMethod?: string; version?: string }[];
  /** How many `wait` calls saw their cancellation. */
  cancelled(): number;
  /** Resolves when a `wait` call has started. */
  waiting(): Promise<void>;
  /** Adds a tool and announces it on the open `subscriptions/listen` streams. */
  addTool(name: string): void;
  close(): Promise<void>;
}

export async function startModernOnlyServer(
  options: { bearer?: string } = {},
): Promise<ModernOnlyServer> {
  const requests: ModernOnlyServer['requests'] = [];
  let cancelled = 0;
  let started: (() => void) | undefined;
  let startedPromise = new Promise<void>((resolve) => {
    started = resolve;
  });

  const extraTools: string[] = [];
  const factory = () => {
    const server = new McpServer(
      { name: 'modern-only', version: '1.0.0' },
      { capabilities: { tools: { listChanged: true } } },
    );
    for (const name of extraTools) {
      server.registerTool(
        name,
        { description: 'Added later', inputSchema: z.object({}) },
        async () => ({
          content: [{ type: 'text', text: name }],
        }),
      );
    }
    server.registerTool(
      'echo',
      { description: 'Echoes text', inputSchema: z.object({ text: z.string() }) },
      async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }),
    );
    server.registerTool(
      'progress',
      { description: 'Reports progress', inputSchema: z.object({ steps: z.number().int() }) },
      async ({ steps }, ctx) => {
        const progressToken = ctx.mcpReq._meta?.progressToken;
        for (let step = 1; step <= steps; step++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          if (progressToken !== undefined) {
            await ctx.mcpReq.notify({
              method: 'notifications/progress',
              params: { progressToken, progress: step, total: steps },
            });
          }
        }
        return { content: [{ type: 'text', text: `done in ${steps} steps` }] };
      },
    );
    const colour = z.object({ colour: z.string() });
    server.registerTool(
      'ask',
      { description: 'Asks the user a question', inputSchema: z.object({}) },
      async (_args, ctx) => {
        const answer = acceptedContent(ctx.mcpReq.inputResponses, 'colour', colour);
        if (answer === undefined) {
          return inputRequired({
            inputRequests: {
              colour: inputRequired.elicit({
                message: 'Favourite colour?',
                requestedSchema: {
                  type: 'object',
                  properties: { colour: { type: 'string' } },
                  required: ['colour'],
                },
              }),
            },
          });
        }
        return { content: [{ type: 'text', text: `colour: ${answer.colour}` }] };
      },
    );
    server.registerTool(
      'wait',
      { description: 'Waits until cancelled', inputSchema: z.object({}) },
      async (_args, ctx) => {
        started?.();
        await new Promise<void>((resolve) => {
          if (ctx.mcpReq.signal.aborted) resolve();
          ctx.mcpReq.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        cancelled++;
        return { content: [{ type: 'text', text: 'cancelled' }] };
      },
    );
    return server;
  };

  const handler = createMcpHandler(factory, { legacy: 'reject' });
  const httpServer = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (body.length > 0) requests.push(describeRequest(req, body));
    // With `bearer`, every request needs that token (RFC 6750 §3: 401 with a challenge).
    if (options.bearer !== undefined && req.headers.authorization !== `Bearer ${options.bearer}`) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end();
      return;
    }
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const response = await handler.fetch(webRequest(req, body, abort.signal));
    await writeResponse(response, res);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    cancelled: () => cancelled,
    addTool: (name) => {
      extraTools.push(name);
      handler.notify.toolsChanged();
    },
    waiting: async () => {
      await startedPromise;
      startedPromise = new Promise<void>((resolve) => {
        started = resolve;
      });
    },
    async close() {
      await handler.close();
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}

function describeRequest(
  req: http.IncomingMessage,
  body: Buffer,
): ModernOnlyServer['requests'][number] {
  try {
    const message = JSON.parse(body.toString('utf8')) as {
      id?: unknown;
      method?: string;
      params?: { _meta?: Record<string, unknown> };
    };
    const version = message.params?._meta?.['io.modelcontextprotocol/protocolVersion'];
    const mcpMethod = req.headers['mcp-method'];
    return {
      method: message.method ?? '(response)',
      request: message.id !== undefined && message.method !== undefined,
      ...(typeof mcpMethod === 'string' ? { mcpMethod } : {}),
      ...(typeof version === 'string' ? { version } : {}),
    };
  } catch {
    return { method: '(unparsable)', request: false };
  }
}

function webRequest(req: http.IncomingMessage, body: Buffer, signal: AbortSignal): Request {
  const headers = Object.entries(req.headers).flatMap(([name, value]) =>
    value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]],
  ) as [string, string][];
  return new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method ?? 'GET',
    headers,
    ...(body.length > 0 ? { body } : {}),
    signal,
  });
}

/** Streams the answer; the client closing its end is how a 2026-07-28 request is cancelled. */
async function writeResponse(response: Response, res: http.ServerResponse): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.on('close', () => void reader.cancel().catch(() => undefined));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch {
    // The client went away.
  }
  res.end();
}
