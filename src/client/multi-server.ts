import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, Tool } from '@modelcontextprotocol/client';
import { ProtocolError, ProtocolErrorCode, Server } from '@modelcontextprotocol/server';
import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import type { FetchLike } from './auth-fetch.ts';
import { connectRemote, type ProtocolChoice } from './remote-client.ts';
import type { ClientNotice } from './types.ts';

/** Separator between a server's name and its tool's name in the combined tool list. */
export const TOOL_SEPARATOR = '__';

export interface AggregateEntry {
  /** Letters, digits and dashes: it prefixes the server's tool names. */
  readonly name: string;
  readonly serverUrl: URL;
  readonly fetch: FetchLike;
  /** Uses OAuth (may wait for a person): connected in the second phase. */
  readonly oauth: boolean;
  /** Gives up a pending authorization when the local side closes. */
  readonly abort?: () => Promise<void>;
  /** Which era to speak to this server; default auto. */
  readonly protocol?: ProtocolChoice;
}

export interface AggregateOptions {
  readonly entries: readonly AggregateEntry[];
  readonly input: Readable;
  readonly output: Writable;
  readonly notice: ClientNotice;
  readonly clientInfo: { readonly name: string; readonly version: string };
  /** Connection attempts per server before giving up on it. Default 5. */
  readonly maxAttempts?: number;
  readonly initialDelayMs?: number;
}

interface Connected {
  readonly client: Client;
  tools: Tool[];
  readonly close: () => Promise<void>;
}

/**
 * Several remote MCP servers as one stdio MCP server (docs/client.md): tools are listed as
 * NAME__TOOL and calls routed by that prefix. Start-up has two phases: servers with static headers
 * connect first, all at once; OAuth servers after, also at once, so one authorization waiting for a
 * person never holds the others up. The stdio side serves as soon as phase one is done and
 * announces `tools/list_changed` as later servers arrive. A server that cannot be reached is
 * retried with backoff and left out meanwhile. Resolves when the local side closes.
 */
export async function runAggregateStdio(options: AggregateOptions): Promise<void> {
  const connected = new Map<string, Connected>();
  const servers = new Set<Server>();
  let serving = false;
  let closed = false;
  const stop = new AbortController();

  // One local server per connection (the SDK's stdio entry picks the local client's era).
  const newServer = (): Server => {
    const server = new Server(options.clientInfo, {
      capabilities: { tools: { listChanged: true } },
      instructions: `Tools of ${options.entries.length} remote MCP servers, named SERVER${TOOL_SEPARATOR}TOOL.`,
    });
    server.setRequestHandler('tools/list', async () => ({
      tools: [...connected.entries()].flatMap(([name, entry]) =>
        entry.tools.map((tool) => ({ ...tool, name: `${name}${TOOL_SEPARATOR}${tool.name}` })),
      ),
    }));
    server.setRequestHandler('tools/call', async (request) => {
      const full = request.params.name;
      const split = full.indexOf(TOOL_SEPARATOR);
      const name = split === -1 ? '' : full.slice(0, split);
      const tool = split === -1 ? '' : full.slice(split + TOOL_SEPARATOR.length);
      const entry = connected.get(name);
      if (entry === undefined || !entry.tools.some((t) => t.name === tool)) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown tool ${full}`);
      }
      return entry.client.callTool({
        name: tool,
        ...(request.params.arguments ? { arguments: request.params.arguments } : {}),
      });
    });
    servers.add(server);
    server.onclose = () => servers.delete(server);
    return server;
  };

  const announce = () => {
    if (!serving || closed) return;
    for (const server of servers) void server.sendToolListChanged().catch(() => undefined);
  };

  const connectOne = async (entry: AggregateEntry): Promise<void> => {
    const attempts = options.maxAttempts ?? 5;
    let delay = options.initialDelayMs ?? 1000;
    for (let attempt = 1; attempt <= attempts && !closed; attempt++) {
      try {
        const remote = await connectRemote({
          serverUrl: entry.serverUrl,
          fetch: entry.fetch,
          clientInfo: options.clientInfo,
          ...(entry.protocol ? { protocol: entry.protocol } : {}),
          notice: (text) => options.notice(`${entry.name}: ${text}`),
        });
        const state: Connected = {
          client: remote.client,
          tools: (await remote.client.listTools()).tools,
          close: remote.close,
        };
        remote.client.setNotificationHandler('notifications/tools/list_changed', async () => {
          state.tools = (await remote.client.listTools()).tools;
          announce();
        });
        connected.set(entry.name, state);
        options.notice(`${entry.name}: connected (${state.tools.length} tools)`);
        announce();
        return;
      } catch (error) {
        if (closed) return;
        options.notice(`${entry.name}: ${(error as Error).message}`);
        if (attempt < attempts) {
          await sleep(delay, undefined, { signal: stop.signal }).catch(() => undefined);
          delay = Math.min(delay * 2, 30_000);
        }
      }
    }
    if (!closed) options.notice(`${entry.name}: giving up; its tools are not available`);
  };

  // Phase 1: static-header servers, concurrently; the stdio side starts once they are done.
  await Promise.all(options.entries.filter((e) => !e.oauth).map(connectOne));
  const transport = new StdioServerTransport(options.input, options.output);
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      closed = true;
      stop.abort();
      resolve();
    };
    options.input.once('end', finish);
    options.input.once('close', finish);
  });
  const handle = serveStdio(newServer, {
    transport,
    onerror: (error) => options.notice(`local: ${error.message}`),
  });
  serving = true;
  // Phase 2: OAuth servers, concurrently, in the background.
  const phaseTwo = Promise.all(options.entries.filter((e) => e.oauth).map(connectOne));
  await done;
  await Promise.all(options.entries.map((entry) => entry.abort?.().catch(() => undefined)));
  await Promise.race([phaseTwo, sleep(100)]);
  await Promise.all([...connected.values()].map((entry) => entry.close().catch(() => undefined)));
  await handle.close().catch(() => undefined);
}
