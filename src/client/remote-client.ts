import {
  type CallToolResult,
  Client,
  type ClientCapabilities,
  type ClientOptions,
  type ProtocolEra,
  StreamableHTTPClientTransport,
  type VersionNegotiationMode,
} from '@modelcontextprotocol/client';
import { ClientError, isClientError, isRequestError } from '../errors/index.ts';
import type { FetchLike } from './auth-fetch.ts';
import { withDefaultResultType } from './default-result-type.ts';

/**
 * Which protocol era to speak to a remote server (`--protocol`). `auto` follows the
 * backward-compatibility rules of MCP 2026-07-28 (basic/versioning, "Backward compatibility"):
 * probe with `server/discover`, fall back to the 2025 `initialize` handshake only when the answer
 * is evidence of a legacy server. A 401/403 never reaches the probe: the authenticated fetch
 * answers it by authorizing, so it is never taken for a legacy answer.
 */
export const PROTOCOL_CHOICES = ['auto', '2026-07-28', '2025-11-25'] as const;
export type ProtocolChoice = (typeof PROTOCOL_CHOICES)[number];

export function isProtocolChoice(value: string): value is ProtocolChoice {
  return (PROTOCOL_CHOICES as readonly string[]).includes(value);
}

/** The SDK's negotiation mode for a `--protocol` choice. */
export function negotiationMode(choice: ProtocolChoice): VersionNegotiationMode {
  if (choice === 'auto') return 'auto';
  if (choice === '2025-11-25') return 'legacy';
  return { pin: choice };
}

export interface RemoteOptions {
  readonly serverUrl: URL;
  /** The authenticated (or static-header) fetch from auth-fetch.ts. */
  readonly fetch: FetchLike;
  readonly clientInfo?: { readonly name: string; readonly version: string };
  /** Default `auto`. */
  readonly protocol?: ProtocolChoice;
  /** What this client offers the server (elicitation, roots, sampling); default none. */
  readonly capabilities?: ClientCapabilities;
  /**
   * `true`: an `input_required` result is answered through the handlers registered on the
   * client (`setRequestHandler('elicitation/create', …)`) and the request retried with
   * `requestState` echoed (MCP 2026-07-28 basic/patterns/mrtr). `false`: it is returned to the
   * caller of a request made with `allowInputRequired` (the bridge relays it).
   */
  readonly autoFulfill?: boolean;
  /** Called before `connect`, to register handlers that must exist at handshake time. */
  readonly prepare?: (client: Client) => void;
  /** Where a fallback to the 2025 handshake is reported (standard error in the CLI). */
  readonly notice?: (text: string) => void;
}

/** How the SSE stream reconnects: backoff from 0.5 s to 30 s, ten attempts. */
export const RECONNECTION = {
  initialReconnectionDelay: 500,
  maxReconnectionDelay: 30_000,
  reconnectionDelayGrowFactor: 2,
  maxRetries: 10,
} as const;

/** A Streamable HTTP transport to the server whose every request goes through `fetch`. */
export function remoteTransport(
  options: Pick<RemoteOptions, 'serverUrl' | 'fetch'>,
): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(options.serverUrl, {
    fetch: withDefaultResultType(options.fetch) as typeof fetch,
    reconnectionOptions: RECONNECTION,
  });
}

export interface RemoteConnection {
  readonly client: Client;
  /** `modern` (2026-07-28, stateless) or `legacy` (2025, initialize and session). */
  readonly era: ProtocolEra;
  readonly close: () => Promise<void>;
}

/**
 * Connects the official SDK client to a remote MCP server in the era `protocol` selects. On a
 * modern connection the SDK sends `MCP-Protocol-Version` and the `_meta` envelope on every
 * request, `Mcp-Method`/`Mcp-Name`, and mirrors `x-mcp-header` arguments into `Mcp-Param-*`
 * (dropping tools whose annotations are invalid from `tools/list`), per MCP 2026-07-28
 * basic/transports/streamable-http.
 */
export async function connectRemote(options: RemoteOptions): Promise<RemoteConnection> {
  const protocol = options.protocol ?? 'auto';
  const probe: ProbeRefusal = { refused: undefined };
  try {
    return await connectIn(protocol, options, recordProbe(options.fetch, probe));
  } catch (error) {
    // MCP 2026-07-28 (basic/versioning): a 401/403 on the probe means "authorize", never
    // "2025 server"; the authenticated fetch has already answered those (a 401, or a 403
    // `insufficient_scope` challenge). A 403 that carries no challenge at all is not an
    // authorization answer (RFC 6750 §3 challenges every refusal it makes): it is a 2025
    // policy layer in front of the server refusing a method it does not know, so the 2025
    // handshake is tried.
    if (protocol !== 'auto' || probe.refused !== 403) throw error;
    options.notice?.(
      `${options.serverUrl.href} refused server/discover with 403 and no authorization challenge; using the 2025 handshake.`,
    );
    return connectIn('2025-11-25', options, options.fetch);
  }
}

interface ProbeRefusal {
  /** Status of a refused `server/discover` that carried no WWW-Authenticate challenge. */
  refused: number | undefined;
}

/** Notes a `server/discover` probe refused without an authorization challenge. */
function recordProbe(base: FetchLike, probe: ProbeRefusal): FetchLike {
  return async (input, init) => {
    const response = await base(input, init);
    const body = typeof init?.body === 'string' ? init.body : '';
    if (
      (response.status === 401 || response.status === 403) &&
      body.includes('"server/discover"') &&
      !response.headers.has('www-authenticate')
    ) {
      probe.refused = response.status;
    }
    return response;
  };
}

async function connectIn(
  protocol: ProtocolChoice,
  options: RemoteOptions,
  fetch: FetchLike,
): Promise<RemoteConnection> {
  const clientOptions: ClientOptions = {
    capabilities: options.capabilities ?? {},
    versionNegotiation: { mode: negotiationMode(protocol) },
    inputRequired: { autoFulfill: options.autoFulfill ?? true },
  };
  const client = new Client(
    options.clientInfo ?? { name: 'portcullis', version: '0' },
    clientOptions,
  );
  options.prepare?.(client);
  const transport = remoteTransport({ serverUrl: options.serverUrl, fetch });
  try {
    await client.connect(transport);
  } catch (error) {
    await client.close().catch(() => undefined);
    throw asClientError(error);
  }
  const era = client.getProtocolEra() ?? 'legacy';
  return {
    client,
    era,
    close: async () => {
      if (era === 'legacy') await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/**
 * Lists the tools and calls one. A tool the server does not list (or lists with invalid
 * `x-mcp-header` annotations, which the SDK drops) is an error naming the tools it does list;
 * a result with `isError: true` is returned as it is (the caller decides the exit code).
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
  for (let depth = 0; depth < 6 && inner instanceof Error; depth++) {
    if (isClientError(inner) || isRequestError(inner)) return inner;
    inner = inner.cause;
  }
  return new ClientError('ClientToolFailed', (error as Error)?.message ?? String(error), {
    cause: error,
  });
}
