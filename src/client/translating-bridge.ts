import { randomBytes } from 'node:crypto';
import type {
  Client,
  ClientCapabilities,
  McpSubscription,
  ServerCapabilities,
} from '@modelcontextprotocol/client';
import {
  type JSONRPCMessage,
  ProtocolError,
  ProtocolErrorCode,
  type RequestMethod,
  Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { OpeningTransport } from './opening-transport.ts';
import type { RemoteConnection } from './remote-client.ts';
import type { ClientNotice } from './types.ts';

/** What a remote 2025 server may ask the client in the middle of a request. */
export const INPUT_METHODS = [
  'elicitation/create',
  'sampling/createMessage',
  'roots/list',
] as const;
type InputMethod = (typeof INPUT_METHODS)[number];

/** How long a request waiting for the local client's input is kept (then the remote is told no). */
export const PARKED_TTL_MS = 10 * 60_000;

export interface TranslatingBridgeOptions {
  /** The remote server, already connected in its era. */
  readonly remote: RemoteConnection;
  /** The local side, holding its opening message. */
  readonly local: OpeningTransport;
  readonly notice: ClientNotice;
  readonly serverInfo: { readonly name: string; readonly version: string };
  /** What the remote was told the client can answer (the local client's own capabilities). */
  readonly offered: ClientCapabilities;
}

const CAPABILITY_OF: Record<InputMethod, 'elicitation' | 'sampling' | 'roots'> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/** One request from the local client, while the remote server works on it. */
interface Pending {
  /** The remote's answer. */
  readonly result: Promise<unknown>;
  /** Questions the remote server asked (2025 server-to-client requests), not yet relayed. */
  readonly questions: Question[];
  /** Wakes the relaying handler when a question arrives. */
  wake: (() => void) | undefined;
}

interface Question {
  readonly method: InputMethod;
  readonly params: Record<string, unknown>;
  readonly answer: (result: unknown) => void;
  readonly refuse: (error: Error) => void;
}

/**
 * `portcullis connect` when the two sides speak different eras, or both speak 2026-07-28. The
 * local side is an MCP server (the official SDK's, serving whichever era the local client opens
 * with: an `initialize` handshake, or 2026-07-28 requests with their `_meta` envelope); the
 * remote side is the SDK client, already connected in the remote's era. Every request is
 * re-issued on the remote side, with its progress relayed back and its cancellation forwarded
 * (MCP 2026-07-28: closing the request's stream cancels it; 2025: `notifications/cancelled`).
 *
 * What one side asks of the client is answered by the other, in the local client's era
 * (MCP 2026-07-28 basic/patterns/mrtr):
 * - a 2026 remote answers `input_required`: it is handed to the local client as it is
 *   (a 2025 local client gets the questions as requests from the SDK, which then re-issues the
 *   request); the retry reaches the remote with `inputResponses` and `requestState` unchanged;
 * - a 2025 remote sends `elicitation/create`, `sampling/createMessage` or `roots/list` while a
 *   request is running: the request is parked and the local client gets `input_required` with a
 *   random handle as `requestState`; its retry carries the answers back to the waiting remote.
 * Resolves when the local side closes.
 */
export async function runTranslatingBridge(options: TranslatingBridgeOptions): Promise<void> {
  const bridge = new TranslatingBridge(options);
  await bridge.run();
}

class TranslatingBridge {
  readonly #options: TranslatingBridgeOptions;
  readonly #client: Client;
  readonly #modernRemote: boolean;
  /** Requests in flight on a 2025 remote, newest last: where its questions belong. */
  readonly #running: Pending[] = [];
  /** Requests waiting for the local client's answers, by the handle given as requestState. */
  readonly #parked = new Map<string, { pending: Pending; keys: Map<string, Question> }>();
  #servers: Server[] = [];

  constructor(options: TranslatingBridgeOptions) {
    this.#options = options;
    this.#client = options.remote.client;
    this.#modernRemote = options.remote.era === 'modern';
  }

  async run(): Promise<void> {
    if (!this.#modernRemote) this.#askLocalForInput();
    this.#relayNotifications();
    const subscription = this.#modernRemote ? await this.#listen() : undefined;
    const handle = serveStdio(async () => this.#newServer(), {
      transport: this.#options.local,
      onerror: (error) => this.#options.notice(`local: ${error.message}`),
    });
    await this.#options.local.closed;
    for (const { keys } of this.#parked.values()) {
      for (const question of keys.values()) question.refuse(new Error('the local client left'));
    }
    this.#parked.clear();
    await subscription?.close().catch(() => undefined);
    await handle.close().catch(() => undefined);
  }

  /**
   * A 2026-07-28 server sends change notifications only on a `subscriptions/listen` stream
   * (MCP 2026-07-28, the GET stream is gone): one is opened for the lists the remote says can
   * change, and what arrives on it reaches the local client like any notification.
   */
  async #listen(): Promise<McpSubscription | undefined> {
    const remote = this.#client.getServerCapabilities() ?? {};
    const filter = {
      ...(remote.tools?.listChanged ? { toolsListChanged: true } : {}),
      ...(remote.prompts?.listChanged ? { promptsListChanged: true } : {}),
      ...(remote.resources?.listChanged ? { resourcesListChanged: true } : {}),
    };
    if (Object.keys(filter).length === 0) return undefined;
    try {
      return await this.#client.listen(filter);
    } catch (error) {
      this.#options.notice(`remote: no change notifications (${(error as Error).message})`);
      return undefined;
    }
  }

  /** What the local server offers: the remote's capabilities, less what is not relayed. */
  #capabilities(): ServerCapabilities {
    const remote = this.#client.getServerCapabilities() ?? {};
    const offered: ServerCapabilities = {};
    if (remote.tools) offered.tools = { ...remote.tools };
    if (remote.prompts) offered.prompts = { ...remote.prompts };
    if (remote.resources) offered.resources = { ...remote.resources };
    if (remote.completions) offered.completions = {};
    if (remote.logging && !this.#modernRemote) offered.logging = {};
    return offered;
  }

  #newServer(): Server {
    const capabilities = this.#capabilities();
    const instructions = this.#client.getInstructions();
    const server = new Server(this.#options.serverInfo, {
      capabilities,
      ...(instructions ? { instructions } : {}),
    });
    const relay = (method: RequestMethod) =>
      server.setRequestHandler(method, (request, ctx) =>
        this.#relay(method, request.params ?? {}, ctx),
      );
    if (capabilities.tools) {
      relay('tools/list');
      relay('tools/call');
    }
    if (capabilities.prompts) {
      relay('prompts/list');
      relay('prompts/get');
    }
    if (capabilities.resources) {
      relay('resources/list');
      relay('resources/templates/list');
      relay('resources/read');
      if (capabilities.resources.subscribe && !this.#modernRemote) {
        relay('resources/subscribe');
        relay('resources/unsubscribe');
      }
    }
    if (capabilities.completions) relay('completion/complete');
    if (capabilities.logging) relay('logging/setLevel');
    this.#servers.push(server);
    server.onclose = () => {
      this.#servers = this.#servers.filter((s) => s !== server);
    };
    return server;
  }

  /** Re-issues one local request on the remote side and relays what comes back. */
  async #relay(method: string, params: object, ctx: ServerContext): Promise<never> {
    const handle = ctx.mcpReq.requestState<string>();
    if (!this.#modernRemote && typeof handle === 'string') {
      return (await this.#resume(handle, ctx)) as never;
    }
    const forwarded: Record<string, unknown> = { ...(params as Record<string, unknown>) };
    // A 2026 remote's own requestState and the answers to its questions, echoed unchanged.
    if (this.#modernRemote) {
      if (ctx.mcpReq.inputResponses !== undefined)
        forwarded.inputResponses = ctx.mcpReq.inputResponses;
      if (typeof handle === 'string') forwarded.requestState = handle;
    }
    const progressToken = ctx.mcpReq._meta?.progressToken;
    // Progress sent before the result reaches the local client before it (its progress handler
    // ends with the result).
    const notified: Promise<unknown>[] = [];
    const options = {
      signal: ctx.mcpReq.signal,
      allowInputRequired: true,
      ...(progressToken === undefined
        ? {}
        : {
            onprogress: (progress: { progress: number; total?: number; message?: string }) => {
              notified.push(
                ctx.mcpReq
                  .notify({
                    method: 'notifications/progress',
                    params: { ...progress, progressToken },
                  })
                  .catch(() => undefined),
              );
            },
          }),
    };
    const result = this.#send(method, forwarded, options)
      .then(complete)
      .finally(async () => {
        // The SDK may settle the call before it has dispatched the progress that preceded the
        // result on the same stream: one turn of the event loop lets those through first.
        await new Promise((resolve) => setImmediate(resolve));
        await Promise.all(notified);
      });
    if (this.#modernRemote) return (await result) as never;
    const pending: Pending = { result, questions: [], wake: undefined };
    this.#running.push(pending);
    result
      .finally(() => {
        const index = this.#running.indexOf(pending);
        if (index !== -1) this.#running.splice(index, 1);
      })
      .catch(() => undefined);
    return (await this.#next(pending)) as never;
  }

  #send(method: string, params: Record<string, unknown>, options: object): Promise<unknown> {
    const client = this.#client;
    switch (method) {
      // Through the SDK's own verbs: tools/call mirrors `x-mcp-header` arguments into
      // Mcp-Param-* headers; the list verbs drop tools with invalid annotations.
      case 'tools/call':
        return client.callTool(params as never, options);
      // The SDK's response cache honours `ttlMs`/`cacheScope` (MCP 2026-07-28
      // server/utilities/caching); it belongs to this bridge process, one user's token, so a
      // private result is never served to another authorization context.
      case 'tools/list':
        return client.listTools(params as never, options);
      case 'resources/read':
        return client.readResource(params as never, options);
      case 'prompts/get':
        return client.getPrompt(params as never, options);
      default:
        return client.request({ method: method as RequestMethod, params } as never, options);
    }
  }

  /** Waits for the remote's result, or its next questions for the local client. */
  async #next(pending: Pending): Promise<unknown> {
    for (;;) {
      if (pending.questions.length > 0) return this.#park(pending);
      const woken = new Promise<'question'>((resolve) => {
        pending.wake = () => resolve('question');
      });
      const outcome = await Promise.race([pending.result.then(() => 'done' as const), woken]);
      pending.wake = undefined;
      if (outcome === 'done') return pending.result;
    }
  }

  /** Hands the remote's questions to the local client as `input_required`. */
  #park(pending: Pending): unknown {
    const handle = randomBytes(24).toString('base64url');
    const keys = new Map<string, Question>();
    const inputRequests: Record<string, { method: string; params: Record<string, unknown> }> = {};
    for (const [index, question] of pending.questions.splice(0).entries()) {
      const key = `q${index + 1}`;
      keys.set(key, question);
      inputRequests[key] = { method: question.method, params: question.params };
    }
    this.#parked.set(handle, { pending, keys });
    const timer = setTimeout(() => {
      const parked = this.#parked.get(handle);
      if (parked === undefined) return;
      this.#parked.delete(handle);
      for (const question of parked.keys.values()) {
        question.refuse(new Error('the local client did not answer in time'));
      }
    }, PARKED_TTL_MS);
    timer.unref();
    return { resultType: 'input_required', inputRequests, requestState: handle };
  }

  /** The local client's retry: its answers go to the waiting remote questions. */
  async #resume(handle: string, ctx: ServerContext): Promise<unknown> {
    const parked = this.#parked.get(handle);
    if (parked === undefined) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        'requestState does not name a request waiting for input (it may have expired)',
      );
    }
    this.#parked.delete(handle);
    const responses = ctx.mcpReq.inputResponses ?? {};
    for (const [key, question] of parked.keys) {
      if (key in responses) question.answer(responses[key]);
      else question.refuse(new Error(`the local client did not answer ${question.method}`));
    }
    return this.#next(parked.pending);
  }

  /** A 2025 remote's server-to-client requests become questions for the running request. */
  #askLocalForInput(): void {
    for (const method of INPUT_METHODS) {
      // Only what the local client declared was offered; the remote asks nothing else.
      if (this.#options.offered[CAPABILITY_OF[method]] === undefined) continue;
      this.#client.setRequestHandler(method, (request) => {
        const pending = this.#running.at(-1);
        if (pending === undefined) {
          throw new ProtocolError(
            ProtocolErrorCode.InvalidRequest,
            `${method} outside of any request: the bridge relays questions within a request only`,
          );
        }
        return new Promise((answer, refuse) => {
          pending.questions.push({
            method,
            params: (request.params ?? {}) as Record<string, unknown>,
            answer: answer as (result: unknown) => void,
            refuse,
          });
          pending.wake?.();
        }) as never;
      });
    }
  }

  /** Change and log notifications from the remote reach the local client. */
  #relayNotifications(): void {
    const forward = (message: { method: string; params?: unknown }) => {
      for (const server of this.#servers) {
        void server
          .notification(message as Parameters<Server['notification']>[0])
          .catch(() => undefined);
      }
    };
    for (const method of [
      'notifications/tools/list_changed',
      'notifications/prompts/list_changed',
      'notifications/resources/list_changed',
      'notifications/resources/updated',
      'notifications/message',
    ] as const) {
      this.#client.setNotificationHandler(method, (notification) => forward(notification));
    }
  }
}

/**
 * A result without `resultType` is complete (MCP 2026-07-28 basic/patterns/mrtr: absent means
 * "complete" for earlier revisions); the local client of 2026-07-28 gets it spelled out.
 */
function complete(result: unknown): unknown {
  if (result === null || typeof result !== 'object' || 'resultType' in result) return result;
  return { ...result, resultType: 'complete' };
}

export type { JSONRPCMessage };
