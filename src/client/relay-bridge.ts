import { setTimeout as sleep } from 'node:timers/promises';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isInitializedNotification,
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { isClientError, isRequestError } from '../errors/index.ts';
import type { FetchLike } from './auth-fetch.ts';
import { type ListeningStreamWatch, watchListeningStream } from './listening-stream.ts';
import { RECONNECTION } from './remote-client.ts';
import type { ClientNotice } from './types.ts';

export interface RelayOptions {
  readonly serverUrl: URL;
  /** The authenticated (or static-header) fetch; it refreshes tokens, so the bridge need not. */
  readonly fetch: FetchLike;
  /** The local side (stdio), not started yet; it may hold the opening message. */
  readonly local: Transport;
  /** Resolves when the local side has closed (end of standard input). */
  readonly localClosed: Promise<void>;
  readonly notice: ClientNotice;
  /** Retries of one message after a network failure or a lost session. Default 6. */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles up to 30 s. Default 500 ms. */
  readonly initialDelayMs?: number;
}

/** JSON-RPC error code for "the bridge could not deliver this request" (implementation range). */
export const BRIDGE_ERROR_CODE = -32001;

/**
 * `portcullis connect` when both sides speak the 2025 protocol: every message is relayed to the
 * remote Streamable HTTP server and back, unchanged: requests, responses and notifications in
 * both directions, server-to-client requests (sampling, elicitation, roots) included. Tokens are
 * refreshed by `fetch` on each request. When the remote session is lost (404) or the network
 * fails, the bridge reconnects with exponential backoff and replays the client's own
 * `initialize` handshake before retrying; a request that still cannot be delivered gets a
 * JSON-RPC error, so the local client is never left waiting.
 * Resolves when the local side closes.
 */
export async function runRelayBridge(options: RelayOptions): Promise<void> {
  const bridge = new Bridge(options);
  await bridge.run();
}

function relayTransport(serverUrl: URL, fetch: FetchLike): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(serverUrl, {
    fetch: fetch as typeof globalThis.fetch,
    reconnectionOptions: RECONNECTION,
  });
}

/** The protocol version an initialize result names, if it is one. */
function protocolVersionOf(message: JSONRPCMessage): string | undefined {
  const result = isJSONRPCResultResponse(message) ? message.result : undefined;
  return result && typeof result.protocolVersion === 'string' ? result.protocolVersion : undefined;
}

class Bridge {
  readonly #options: RelayOptions;
  readonly #local: Transport;
  readonly #listening: ListeningStreamWatch;
  #remote: StreamableHTTPClientTransport;
  /** The local client's own handshake, replayed after a reconnect. */
  #initialize: JSONRPCRequest | undefined;
  #initializeId: RequestId | undefined;
  #initialized = false;
  /**
   * Settles when the local client's `notifications/initialized` has been delivered and the
   * remote has answered the listening stream: the messages that follow wait for it, so a server
   * request sent on that stream (an elicitation while a tool runs) is not dropped for lack of it.
   */
  #handshake: Promise<void> | undefined;
  /** Pending internal handshake after a reconnect: the id it uses and its resolver. */
  #replay: { id: RequestId; done: (ok: boolean) => void } | undefined;
  #reconnecting: Promise<void> | undefined;
  #closed = false;

  constructor(options: RelayOptions) {
    this.#options = options;
    this.#local = options.local;
    this.#listening = watchListeningStream(options.fetch);
    this.#remote = this.#newRemote();
  }

  async run(): Promise<void> {
    await this.#remote.start();
    this.#local.onmessage = (message) => this.#fromLocal(message);
    this.#local.onerror = (error) => this.#options.notice(`stdin: ${error.message}`);
    await new Promise<void>((resolve) => {
      const finish = () => {
        if (this.#closed) return;
        this.#closed = true;
        resolve();
      };
      this.#local.onclose = finish;
      void this.#options.localClosed.then(finish);
      void this.#local.start();
    });
    await this.#remote.terminateSession().catch(() => undefined);
    await this.#remote.close().catch(() => undefined);
    await this.#local.close().catch(() => undefined);
  }

  #newRemote(): StreamableHTTPClientTransport {
    const transport = relayTransport(this.#options.serverUrl, this.#listening.fetch);
    transport.onmessage = (message) => this.#fromRemote(transport, message);
    transport.onerror = (error) => {
      if (!this.#closed) this.#options.notice(`remote: ${error.message}`);
    };
    return transport;
  }

  #fromRemote(transport: StreamableHTTPClientTransport, message: JSONRPCMessage): void {
    const id = 'id' in message && !('method' in message) ? message.id : undefined;
    if (this.#replay && id === this.#replay.id) {
      const version = protocolVersionOf(message);
      if (version) transport.setProtocolVersion(version);
      this.#replay.done(isJSONRPCResultResponse(message));
      return;
    }
    if (id !== undefined && id === this.#initializeId) {
      const version = protocolVersionOf(message);
      if (version) transport.setProtocolVersion(version);
    }
    this.#local
      .send(message)
      .catch((error) => this.#options.notice(`stdout: ${(error as Error).message}`));
  }

  #fromLocal(message: JSONRPCMessage): void {
    if (isInitializeRequest(message) && isJSONRPCRequest(message)) {
      this.#initialize = message;
      this.#initializeId = message.id;
    }
    let delivery: Promise<void>;
    if (isInitializedNotification(message)) {
      this.#initialized = true;
      delivery = this.#deliver(message).then(() => this.#listening.ready());
      this.#handshake = delivery.catch(() => undefined);
    } else {
      const handshake = this.#handshake;
      delivery = handshake ? handshake.then(() => this.#deliver(message)) : this.#deliver(message);
    }
    delivery.catch((error) => {
      this.#options.notice(`could not deliver ${describe(message)}: ${(error as Error).message}`);
      if (isJSONRPCRequest(message)) {
        void this.#local.send({
          jsonrpc: '2.0',
          id: message.id,
          error: { code: BRIDGE_ERROR_CODE, message: `portcullis: ${(error as Error).message}` },
        });
      }
    });
  }

  async #deliver(message: JSONRPCMessage): Promise<void> {
    const maxAttempts = this.#options.maxAttempts ?? 6;
    let delay = this.#options.initialDelayMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      if (this.#reconnecting) await this.#reconnecting.catch(() => undefined);
      try {
        await this.#remote.send(message);
        return;
      } catch (error) {
        if (this.#closed) return;
        if (attempt >= maxAttempts) throw error;
        delay = await this.#recover(error, attempt, maxAttempts, delay);
      }
    }
  }

  /**
   * After a failed send: rethrows what retrying cannot fix; otherwise waits (backoff, none for a
   * lost session) and reconnects when needed. Returns the next delay.
   */
  async #recover(
    error: unknown,
    attempt: number,
    maxAttempts: number,
    delay: number,
  ): Promise<number> {
    const sessionLost = error instanceof StreamableHTTPError && error.code === 404;
    if (!(sessionLost || isTransient(error))) throw error;
    const what = sessionLost
      ? 'session lost, reconnecting'
      : `${(error as Error).message}; retrying in ${delay} ms`;
    this.#options.notice(`remote: ${what} (attempt ${attempt + 1} of ${maxAttempts})`);
    let next = delay;
    if (!sessionLost || attempt > 1) {
      await sleep(delay);
      next = Math.min(delay * 2, 30_000);
    }
    if (sessionLost || attempt >= 2) await this.#reconnectOnce();
    return next;
  }

  async #reconnectOnce(): Promise<void> {
    this.#reconnecting ??= this.#reconnect().finally(() => {
      this.#reconnecting = undefined;
    });
    await this.#reconnecting.catch((reason) =>
      this.#options.notice(`reconnect failed: ${(reason as Error).message}`),
    );
  }

  async #reconnect(): Promise<void> {
    const previous = this.#remote;
    previous.onmessage = undefined;
    previous.onerror = undefined;
    await previous.close().catch(() => undefined);
    this.#remote = this.#newRemote();
    await this.#remote.start();
    const initialize = this.#initialize;
    if (initialize === undefined) return;
    // Replay the client's handshake on the new session, under an id of our own.
    const id = `portcullis-reconnect-${Date.now()}`;
    const ok = await new Promise<boolean>((resolve, reject) => {
      this.#replay = { id, done: resolve };
      this.#remote.send({ ...initialize, id }).catch(reject);
    }).finally(() => {
      this.#replay = undefined;
    });
    if (!ok) throw new Error('the server refused to initialize again');
    if (this.#initialized) {
      await this.#remote.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await this.#listening.ready();
    }
    this.#options.notice('Reconnected to the remote MCP server.');
  }
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
