import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ClientError, isClientError, isRequestError } from '../errors/index.ts';
import type { FetchLike } from './auth-fetch.ts';

export interface RemoteOptions {
  readonly serverUrl: URL;
  /** The authenticated (or static-header) fetch from auth-fetch.ts. */
  readonly fetch: FetchLike;
  readonly clientInfo?: { readonly name: string; readonly version: string };
}

/** How the SSE stream reconnects: backoff from 0.5 s to 30 s, ten attempts. */
export const RECONNECTION = {
  initialReconnectionDelay: 500,
  maxReconnectionDelay: 30_000,
  reconnectionDelayGrowFactor: 2,
  maxRetries: 10,
} as const;

/** A Streamable HTTP transport to the server whose every request goes through `fetch`. */
export function remoteTransport(options: RemoteOptions): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(options.serverUrl, {
    fetch: options.fetch as typeof fetch,
    reconnectionOptions: RECONNECTION,
  });
}

/** Connects the official SDK client to a remote MCP server (initialize included). */
export async function connectRemote(
  options: RemoteOptions,
): Promise<{ client: Client; close: () => Promise<void> }> {
  const client = new Client(options.clientInfo ?? { name: 'portcullis', version: '0' }, {
    capabilities: {},
  });
  const transport = remoteTransport(options);
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/**
 * Lists the tools and calls one. A tool the server does not list is an error naming the tools it
 * does list; a result with `isError: true` is returned as it is (the caller decides the exit code).
 */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  const tools = await client.listTools();
  if (!tools.tools.some((tool) => tool.name === name)) {
    const names = tools.tools.map((tool) => tool.name);
    throw new ClientError(
      'ClientToolFailed',
      `the server has no tool "${name}"${names.length ? ` (it has: ${names.slice(0, 20).join(', ')})` : ''}`,
    );
  }
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** The error to report for a failure while talking to the server: ours, or a wrapped one. */
export function asClientError(error: unknown): Error {
  let inner: unknown = error;
  for (let depth = 0; depth < 5 && inner instanceof Error; depth++) {
    if (isClientError(inner) || isRequestError(inner)) return inner;
    inner = inner.cause;
  }
  return new ClientError('ClientToolFailed', (error as Error)?.message ?? String(error), {
    cause: error,
  });
}
