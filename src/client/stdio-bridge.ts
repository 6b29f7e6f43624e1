import type { Readable, Writable } from 'node:stream';
import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/client';
import type { Transport as LegacyTransport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import type { FetchLike } from './auth-fetch.ts';
import { watchListeningStream } from './listening-stream.ts';
import { OpeningTransport } from './opening-transport.ts';
import { runRelayBridge } from './relay-bridge.ts';
import { connectRemote, type ProtocolChoice } from './remote-client.ts';
import { runTranslatingBridge } from './translating-bridge.ts';
import type { ClientNotice } from './types.ts';

export interface BridgeOptions {
  readonly serverUrl: URL;
  /** The authenticated (or static-header) fetch; it refreshes tokens, so the bridge need not. */
  readonly fetch: FetchLike;
  readonly input: Readable;
  readonly output: Writable;
  readonly notice: ClientNotice;
  /** Which era to speak to the remote server; default auto. */
  readonly protocol?: ProtocolChoice;
  /** Who the bridge says it is to the local client. */
  readonly serverInfo?: Implementation;
  /** Retries of one message after a network failure or a lost session (2025 relay). Default 6. */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles up to 30 s. Default 500 ms. */
  readonly initialDelayMs?: number;
}

/** The local client's era and what it can answer, read from its opening message. */
export interface LocalOpening {
  readonly era: 'legacy' | 'modern';
  readonly capabilities: ClientCapabilities;
  readonly clientInfo?: Implementation;
}

const CAPABILITIES_KEY = 'io.modelcontextprotocol/clientCapabilities';
const CLIENT_INFO_KEY = 'io.modelcontextprotocol/clientInfo';

/**
 * A 2025 client opens with `initialize` (its capabilities in the params); a 2026-07-28 client
 * sends requests carrying the `_meta` envelope (MCP 2026-07-28 basic/index, "_meta").
 */
export function readOpening(message: JSONRPCMessage): LocalOpening {
  const params = ('params' in message ? message.params : undefined) as
    | Record<string, unknown>
    | undefined;
  if ('method' in message && message.method === 'initialize') {
    return {
      era: 'legacy',
      capabilities: (params?.capabilities ?? {}) as ClientCapabilities,
      ...(params?.clientInfo ? { clientInfo: params.clientInfo as Implementation } : {}),
    };
  }
  const meta = (params?._meta ?? {}) as Record<string, unknown>;
  return {
    era: 'modern',
    capabilities: (meta[CAPABILITIES_KEY] ?? {}) as ClientCapabilities,
    ...(meta[CLIENT_INFO_KEY] ? { clientInfo: meta[CLIENT_INFO_KEY] as Implementation } : {}),
  };
}

/** Only what the bridge can relay is offered to the remote, and only if the local client can. */
function relayedCapabilities(local: ClientCapabilities): ClientCapabilities {
  const offered: ClientCapabilities = {};
  if (local.elicitation) offered.elicitation = local.elicitation;
  if (local.sampling) offered.sampling = local.sampling;
  if (local.roots) offered.roots = {};
  return offered;
}

/**
 * `portcullis connect`: serves MCP on standard input/output for a local client of either era
 * and relays it to the remote Streamable HTTP server of either era. The local client's opening
 * message tells its era; the remote's is found as `protocol` says (MCP 2026-07-28
 * basic/versioning, backward compatibility). Two 2025 peers get a message-for-message relay;
 * any other pair goes through the translating bridge, which answers for each side what the
 * other lacks. Resolves when the local side closes.
 */
export async function runStdioBridge(options: BridgeOptions): Promise<void> {
  const local = new OpeningTransport(new StdioServerTransport(options.input, options.output));
  await local.listen();
  const first = await local.opening;
  if (first === undefined) return;
  const opening = readOpening(first);
  const offered = relayedCapabilities(opening.capabilities);
  const listening = watchListeningStream(options.fetch);
  let remote: Awaited<ReturnType<typeof connectRemote>>;
  try {
    remote = await connectRemote({
      serverUrl: options.serverUrl,
      fetch: listening.fetch,
      protocol: options.protocol ?? 'auto',
      capabilities: offered,
      notice: options.notice,
      clientInfo: opening.clientInfo ?? { name: 'portcullis-bridge', version: '0' },
    });
  } catch (error) {
    await refuseOpening(local, first, error as Error);
    throw error;
  }
  options.notice(
    `Connected to ${options.serverUrl.href} (${remote.era === 'modern' ? 'MCP 2026-07-28' : `MCP ${remote.client.getNegotiatedProtocolVersion() ?? '2025'}`}); local client speaks ${opening.era === 'modern' ? '2026-07-28' : '2025'}.`,
  );
  if (remote.era === 'legacy' && opening.era === 'legacy') {
    // Both sides speak 2025: relay the local client's own handshake and session unchanged.
    await remote.close().catch(() => undefined);
    await runRelayBridge({
      serverUrl: options.serverUrl,
      fetch: options.fetch,
      local: local as unknown as LegacyTransport,
      localClosed: local.closed,
      notice: options.notice,
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      ...(options.initialDelayMs === undefined ? {} : { initialDelayMs: options.initialDelayMs }),
    });
    return;
  }
  try {
    // A 2025 remote may send its questions on the listening stream: serve once it is open.
    if (remote.era === 'legacy') await listening.ready();
    await runTranslatingBridge({
      remote,
      local,
      offered,
      notice: options.notice,
      serverInfo: options.serverInfo ??
        remote.client.getServerVersion() ?? { name: 'portcullis-bridge', version: '0' },
    });
  } finally {
    await remote.close().catch(() => undefined);
  }
}

/** The local client is not left waiting: its opening request gets the error. */
async function refuseOpening(
  local: OpeningTransport,
  first: JSONRPCMessage,
  error: Error,
): Promise<void> {
  if (!('id' in first) || !('method' in first)) return;
  await local
    .send({
      jsonrpc: '2.0',
      id: first.id,
      error: { code: -32001, message: `portcullis: ${error.message}` },
    })
    .catch(() => undefined);
  await local.close().catch(() => undefined);
}
