import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  type InitializeRequest,
  isInitializedNotification,
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { isClientError, isRequestError } from '../errors/index.ts';
import type { FetchLike } from './auth-fetch.ts';
import { remoteTransport } from './remote-client.ts';
import type { ClientNotice } from './types.ts';

export interface BridgeOptions {
  readonly serverUrl: URL;
  /** The authenticated (or static-header) fetch; it refreshes tokens, so the bridge need not. */
  readonly fetch: FetchLike;
  readonly input: Readable;
  readonly output: Writable;
  readonly notice: ClientNotice;
  /** Retries of one message after a network failure or a lost session. Default 6. */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles up to 30 s. Default 500 ms. */
  readonly initialDelayMs?: number;
}

/** JSON-RPC error code for "the bridge could not deliver this request" (implementation range). */
export const BRIDGE_ERROR_CODE = -32001;

/**
 * `portcullis connect`: a local stdio MCP server whose every message is relayed to a remote
 * Streamable HTTP server and back, unchanged: requests, responses and notifications in both
 * directions, server-to-client requests (sampling, elicitation, roots) included. Tokens are
 * refreshed by `fetch` on each request. When the remote session is lost (404) or the network
 * fails, the bridge reconnects with exponential backoff and replays the client's own
 * `initialize` handshake before retrying; a request that still cannot be delivered gets a
 * JSON-RPC error, so the local client is never left waiting.
 * Resolves when the local side closes.
 */
export async function runStdioBridge(options: BridgeOptions): Promise<void> {
  const local = new StdioServerTransport(options.input, options.output);
  const maxAttempts = options.maxAttempts ?? 6;
  const initialDelay = options.initialDelayMs ?? 500;
  let remote = remoteTransport(options);
  let initialize: InitializeRequest | undefined;
  let initializeId: RequestId | undefined;
  let initialized = false;
  /** Pending internal handshake after a reconnect: the id it uses and its resolver. */
  let replay: { id: RequestId; done: (ok: boolean) => void } | undefined;
  let reconnecting: Promise<void> | undefined;
  let closed = false;

  const wire = (transport: StreamableHTTPClientTransport) => {
    transport.onmessage = (message) => {
      if (replay && 'id' in message && message.id === replay.id && !('method' in message)) {
        const result = isJSONRPCResultResponse(message) ? message.result : undefined;
        if (result && typeof result.protocolVersion === 'string') {
          transport.setProtocolVersion(result.protocolVersion);
        }
        replay.done(isJSONRPCResultResponse(message));
        return;
      }
      if (initializeId !== undefined && 'id' in message && message.id === initializeId) {
        const result = isJSONRPCResultResponse(message) ? message.result : undefined;
        if (result && typeof result.protocolVersion === 'string') {
          transport.setProtocolVersion(result.protocolVersion);
        }
      }
      local.send(message).catch((error) => options.notice(`stdout: ${(error as Error).message}`));
    };
    transport.onerror = (error) => {
      if (!closed) options.notice(`remote: ${error.message}`);
    };
  };
  wire(remote);
  await remote.start();

  const reconnect = async (): Promise<void> => {
    const previous = remote;
    previous.onmessage = undefined;
    previous.onerror = undefined;
    await previous.close().catch(() => undefined);
    remote = remoteTransport(options);
    wire(remote);
    await remote.start();
    if (initialize === undefined) return;
    // Replay the client's handshake on the new session, under an id of our own.
    const id = `portcullis-reconnect-${Date.now()}`;
    const ok = await new Promise<boolean>((resolve, reject) => {
      replay = { id, done: resolve };
      remote.send({ ...initialize, id } as JSONRPCMessage).catch(reject);
    }).finally(() => {
      replay = undefined;
    });
    if (!ok) throw new Error('the server refused to initialize again');
    if (initialized) await remote.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    options.notice('Reconnected to the remote MCP server.');
  };

  const deliver = async (message: JSONRPCMessage): Promise<void> => {
    let delay = initialDelay;
    for (let attempt = 1; ; attempt++) {
      if (reconnecting) await reconnecting.catch(() => undefined);
      try {
        await remote.send(message);
        return;
      } catch (error) {
        if (closed) return;
        const sessionLost = error instanceof StreamableHTTPError && error.code === 404;
        const transient = sessionLost || isTransient(error);
        if (!transient || attempt >= maxAttempts) throw error;
        options.notice(
          `remote: ${sessionLost ? 'session lost, reconnecting' : `${(error as Error).message}; retrying in ${delay} ms`} (attempt ${attempt + 1} of ${maxAttempts})`,
        );
        // A lost session is re-established at once; a failing network gets backoff.
        if (!sessionLost || attempt > 1) {
          await sleep(delay);
          delay = Math.min(delay * 2, 30_000);
        }
        if (sessionLost || attempt >= 2) {
          reconnecting ??= reconnect().finally(() => {
            reconnecting = undefined;
          });
          await reconnecting.catch((reason) =>
            options.notice(`reconnect failed: ${(reason as Error).message}`),
          );
        }
      }
    }
  };

  local.onmessage = (message) => {
    if (isInitializeRequest(message) && isJSONRPCRequest(message)) {
      initialize = message as unknown as InitializeRequest;
      initializeId = message.id;
    }
    if (isInitializedNotification(message)) initialized = true;
    deliver(message).catch((error) => {
      options.notice(`could not deliver ${describe(message)}: ${(error as Error).message}`);
      if (isJSONRPCRequest(message)) {
        void local.send({
          jsonrpc: '2.0',
          id: message.id,
          error: { code: BRIDGE_ERROR_CODE, message: `portcullis: ${(error as Error).message}` },
        });
      }
    });
  };
  local.onerror = (error) => options.notice(`stdin: ${error.message}`);

  await new Promise<void>((resolve) => {
    const finish = () => {
      if (closed) return;
      closed = true;
      resolve();
    };
    local.onclose = finish;
    options.input.once('end', finish);
    options.input.once('close', finish);
    void local.start();
  });
  await remote.terminateSession().catch(() => undefined);
  await remote.close().catch(() => undefined);
  await local.close().catch(() => undefined);
}

/** Network failures and 5xx answers are retried; authorization and protocol errors are not. */
function isTransient(error: unknown): boolean {
  if (isClientError(error)) return false;
  if (isRequestError(error)) return error.code === 'FetchFailed';
  if (error instanceof StreamableHTTPError) return error.code !== undefined && error.code >= 500;
  return error instanceof TypeError; // fetch's "fetch failed"
}

function describe(message: JSONRPCMessage): string {
  if ('method' in message) return message.method;
  if (isJSONRPCErrorResponse(message)) return `error response ${String(message.id)}`;
  return `response ${String((message as { id?: RequestId }).id)}`;
}
