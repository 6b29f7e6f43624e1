import { randomBytes } from 'node:crypto';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import {
  errorResponse,
  isRecord,
  type JsonRpcId,
  type ParsedMessage,
  parseMessageText,
  type ResponseFilter,
} from '../../mcp/index.ts';
import type { ModernRequest } from '../../mcp/modern/inbound.ts';
import { LEGACY_PROTOCOL_VERSIONS, META, MODERN_ERRORS } from '../../mcp/modern/protocol.ts';
import type { RequestStateSealer } from '../../mcp/modern/request-state.ts';
import { toModernResult } from '../../mcp/modern/results.ts';
import type { Principal } from '../auth-stage.ts';
import { PushStream } from '../push-stream.ts';
import { jsonResponse, sseHeaders } from '../responses.ts';
import { type ExchangeContext, newSessionId, type UpstreamSession } from '../sessions.ts';
import { encodeSseEvent } from '../sse.ts';
import { MessageReader } from './message-reader.ts';

/**
 * A 2026-07-28 client in front of a 2025 server (a stdio child, or an HTTP server that only
 * speaks initialize). The gateway holds the 2025 session on the client's behalf — one per
 * subject on this upstream, bounded and closed when idle, as sessions are — and turns each
 * stateless request into a request on that session.
 *
 * What the 2025 server sends while it works comes back on the request's own stream: progress
 * for the request's token and log messages (basic/transports/streamable-http "Receiving
 * Messages"). A server-to-client request (elicitation, sampling, roots) cannot travel to a
 * modern client as such; it becomes an InputRequiredResult (basic/patterns/mrtr) whose
 * `requestState` is sealed by the gateway and names the parked 2025 exchange. The client's
 * retry carries the answers: the state is opened (subject, upstream, request and expiry
 * checked — anything else is 400 and nothing reaches the upstream), the answers are sent to
 * the 2025 server as its responses, and the parked exchange continues on the retry's stream.
 * Closing a request's stream cancels it upstream (notifications/cancelled, 2025-11-25
 * basic/utilities/cancellation).
 */

/** Server-to-client requests that become input requests (mrtr "Core Types"). */
const INPUT_METHODS: Readonly<Record<string, string>> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/** Listen filter keys → the capability whose listChanged says the server sends them. */
const LISTEN_FAMILIES: Readonly<Record<string, string>> = {
  toolsListChanged: 'tools',
  promptsListChanged: 'prompts',
  resourcesListChanged: 'resources',
};
const LISTEN_METHODS: Readonly<Record<string, string>> = {
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
};

/** What the gateway declares when it initializes a held session for modern clients. */
const BRIDGE_CAPABILITIES = { elicitation: {}, sampling: {} };

export interface LegacyBridgeOptions {
  /** The upstream's name (bound into every requestState). */
  readonly upstream: string;
  /** Opens a 2025 session on the upstream (the route's connector). */
  readonly open: (id: string, principal: Principal) => UpstreamSession;
  readonly sealer: RequestStateSealer;
  readonly logger: Logger;
  /** Held sessions at most, all subjects together. */
  readonly maxSessions: number;
  /** A held session unused this long is closed. */
  readonly idleTimeoutMs: number;
  /** How long a parked exchange waits for the client's retry (the requestState lifetime). */
  readonly parkTimeoutMs: number;
  /** The gateway's own identity, sent in initialize. */
  readonly clientInfo?: { name: string; version: string };
}

export interface BridgeCall {
  readonly request: ModernRequest;
  readonly principal: Principal;
  readonly requestId: string;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  /** Rewrites the final (modern) response: a list filtered per caller. */
  readonly filter?: ResponseFilter | undefined;
}

interface HeldSession {
  readonly subject: string;
  readonly session: UpstreamSession;
  readonly initialize: Readonly<Record<string, unknown>>;
  readonly version: string;
  /** Exchanges waiting for a client's answers, by handle. */
  readonly parked: Map<string, Parked>;
  lastUsed: number;
  active: number;
}

interface Parked {
  readonly handle: string;
  readonly reader: MessageReader;
  readonly legacyId: string;
  /** Input key → the 2025 server's request id. */
  readonly inputs: ReadonlyMap<string, JsonRpcId>;
  readonly inputRequests: Readonly<Record<string, unknown>>;
  readonly method: string;
  readonly timer: NodeJS.Timeout;
}

export class ModernToLegacyBridge {
  readonly #options: LegacyBridgeOptions;
  readonly #held = new Map<string, Promise<HeldSession>>();
  readonly #sweeper: NodeJS.Timeout;
  #counter = 0;
  #closing = false;

  constructor(options: LegacyBridgeOptions) {
    this.#options = options;
    const sweepEvery = Math.max(1000, Math.min(15_000, Math.floor(options.idleTimeoutMs / 2)));
    this.#sweeper = setInterval(() => void this.sweep(Date.now()), sweepEvery);
    this.#sweeper.unref();
  }

  /** Held sessions now (for readiness and tests). */
  get size(): number {
    return this.#held.size;
  }

  /** The 2025 server's initialize result, for a modern client's server/discover. */
  async initializeResult(principal: Principal): Promise<Readonly<Record<string, unknown>>> {
    const held = await this.#sessionFor(principal);
    return held.initialize;
  }

  /** Serves one modern request on the subject's held session. */
  async call(call: BridgeCall): Promise<Response> {
    const { request } = call;
    // A retry is checked before anything else: a bad state reaches no upstream, not even an
    // initialize for a subject that holds no session yet.
    if (Object.hasOwn(request.params, 'requestState')) return this.#resume(call);
    const held = await this.#sessionFor(call.principal);
    held.lastUsed = Date.now();
    this.#counter += 1;
    // Only this bridge writes to the held session, so a counter keeps its ids unique.
    const legacyId = `portcullis-${this.#counter.toString(36)}`;
    const params = legacyParams(request.params);
    const raw = { jsonrpc: '2.0', id: legacyId, method: request.method, params };
    // Built here, not parsed: the gateway's own message needs no second reading.
    const parsed: ParsedMessage = {
      message: { kind: 'request', id: legacyId, method: request.method, params },
      text: JSON.stringify(raw),
      raw,
    };
    const response = await held.session.post(
      parsed,
      undefined,
      this.#context(held, call.principal, call.requestId, call.signal),
    );
    return this.#relay(held, call, new MessageReader(response), legacyId);
  }

  /**
   * `subscriptions/listen` on a 2025 server: the held session's GET stream, acknowledged with the
   * notification types the server can send (its listChanged capabilities), then those change
   * notifications as they come, stamped with the subscription id (the listen request's id).
   * Resource subscriptions are not honoured through the bridge (not acknowledged).
   */
  async listen(call: BridgeCall): Promise<Response> {
    const { request } = call;
    const held = await this.#sessionFor(call.principal);
    const wanted = isRecord(request.params.notifications) ? request.params.notifications : {};
    const capabilities = isRecord(held.initialize.capabilities) ? held.initialize.capabilities : {};
    const honored: Record<string, boolean> = {};
    for (const [key, family] of Object.entries(LISTEN_FAMILIES)) {
      const capability = capabilities[family];
      if (wanted[key] === true && isRecord(capability) && capability.listChanged === true) {
        honored[key] = true;
      }
    }
    const subscriptionId = request.id;
    const stamp = (method: string, params: Record<string, unknown>) =>
      event(
        JSON.stringify({
          jsonrpc: '2.0',
          method,
          params: { ...params, _meta: { [META.subscriptionId]: subscriptionId } },
        }),
      );
    const upstream = new AbortController();
    const stream = new PushStream({ onCancel: () => upstream.abort() });
    stream.write(stamp('notifications/subscriptions/acknowledged', { notifications: honored }));
    const methods = new Set(Object.keys(honored).map((key) => LISTEN_METHODS[key] ?? ''));
    held.active += 1;
    const response = await held.session.get(
      this.#context(held, call.principal, call.requestId, upstream.signal),
    );
    const reader = new MessageReader(response);
    upstream.signal.addEventListener('abort', () => reader.cancel(), { once: true });
    void (async () => {
      for (
        let message = await reader.next();
        message !== undefined;
        message = await reader.next()
      ) {
        const method = message.method;
        if (typeof method !== 'string' || Object.hasOwn(message, 'id') || !methods.has(method))
          continue;
        const params = isRecord(message.params) ? message.params : {};
        if (!stream.write(stamp(method, params))) break;
      }
    })()
      .catch(() => {})
      .finally(() => {
        held.active -= 1;
        held.lastUsed = Date.now();
        stream.close();
      });
    return new Response(stream.stream, { status: 200, headers: sseHeaders() });
  }

  /** Closes sessions idle for longer than the timeout, and those whose upstream ended. */
  async sweep(now: number): Promise<void> {
    for (const [key, pending] of this.#held) {
      const held = await pending.catch(() => undefined);
      if (held === undefined) continue;
      const idle = held.active === 0 && held.parked.size === 0;
      if (held.session.closed || (idle && now - held.lastUsed >= this.#options.idleTimeoutMs)) {
        this.#held.delete(key);
        await held.session.close(held.session.closed ? 'upstream ended' : 'idle');
      }
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    const all = [...this.#held.values()];
    this.#held.clear();
    for (const pending of all) {
      const held = await pending.catch(() => undefined);
      if (held === undefined) continue;
      for (const parked of held.parked.values()) {
        clearTimeout(parked.timer);
        parked.reader.cancel();
      }
      await held.session.close('gateway closing');
    }
  }

  async #sessionFor(principal: Principal): Promise<HeldSession> {
    if (this.#closing) throw new RequestError('UpstreamUnavailable', 'the gateway is closing');
    const key = principal.subject;
    const existing = this.#held.get(key);
    if (existing !== undefined) {
      const held = await existing.catch(() => undefined);
      if (held !== undefined && !held.session.closed) return held;
      if (this.#held.get(key) === existing) this.#held.delete(key);
    }
    if (this.#held.size >= this.#options.maxSessions) {
      await this.sweep(Date.now());
      if (this.#held.size >= this.#options.maxSessions) {
        throw new RequestError('CapacityExceeded', 'too many held sessions on this upstream', {
          details: { retryAfter: '1' },
        });
      }
    }
    const opening = this.#openSession(principal);
    this.#held.set(key, opening);
    opening.catch(() => {
      if (this.#held.get(key) === opening) this.#held.delete(key);
    });
    return opening;
  }

  async #openSession(principal: Principal): Promise<HeldSession> {
    const session = this.#options.open(newSessionId(), principal);
    const version = LEGACY_PROTOCOL_VERSIONS[0];
    const fresh = { parked: new Map<string, Parked>(), lastUsed: Date.now(), active: 0 };
    const context = (accept: string): ExchangeContext => ({
      principal,
      requestId: 'bridge-initialize',
      headers: { accept, 'content-type': 'application/json' },
      signal: new AbortController().signal,
    });
    try {
      const answer = await session.post(
        parseMessageText(
          JSON.stringify({
            jsonrpc: '2.0',
            id: 'portcullis-initialize',
            method: 'initialize',
            params: {
              protocolVersion: version,
              capabilities: BRIDGE_CAPABILITIES,
              clientInfo: this.#options.clientInfo ?? { name: 'portcullis', version: '0' },
            },
          }),
        ),
        undefined,
        context('application/json, text/event-stream'),
      );
      const reader = new MessageReader(answer);
      let result: Readonly<Record<string, unknown>> | undefined;
      for (
        let message = await reader.next();
        message !== undefined;
        message = await reader.next()
      ) {
        if (message.id === 'portcullis-initialize') {
          if (isRecord(message.result)) result = message.result;
          break;
        }
      }
      reader.cancel();
      if (result === undefined) {
        throw new RequestError('UpstreamFailed', 'the upstream did not accept initialize');
      }
      const negotiated =
        typeof result.protocolVersion === 'string' ? result.protocolVersion : version;
      const headers = {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-protocol-version': negotiated,
      };
      await session.post(
        parseMessageText('{"jsonrpc":"2.0","method":"notifications/initialized"}'),
        undefined,
        { ...context(headers.accept), headers },
      );
      return {
        subject: principal.subject,
        session,
        initialize: result,
        version: negotiated,
        ...fresh,
      };
    } catch (error) {
      await session.close('initialize failed');
      throw error;
    }
  }

  #context(
    held: HeldSession,
    principal: Principal,
    requestId: string,
    signal: AbortSignal,
  ): ExchangeContext {
    return {
      principal,
      requestId,
      headers: {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-protocol-version': held.version,
      },
      signal,
    };
  }

  /** Continues a parked exchange with the client's answers. */
  async #resume(call: BridgeCall): Promise<Response> {
    const { request } = call;
    const opened = await this.#options.sealer.open(request.params.requestState, {
      subject: call.principal.subject,
      upstream: this.#options.upstream,
      method: request.method,
      params: request.params,
    });
    const handle = opened.ok ? opened.state.handle : undefined;
    const existing = this.#held.get(call.principal.subject);
    const held = existing === undefined ? undefined : await existing.catch(() => undefined);
    const parked = typeof handle === 'string' ? held?.parked.get(handle) : undefined;
    if (!opened.ok || held === undefined || parked === undefined) {
      const reason = opened.ok ? 'unknown-or-used' : opened.reason;
      this.#options.logger.info(
        { upstream: this.#options.upstream, reason, requestId: call.requestId },
        'refused a requestState',
      );
      return jsonResponse(
        errorResponse(request.id, MODERN_ERRORS.invalidParams, 'Invalid or expired requestState', {
          reason,
        }),
        400,
      );
    }
    held.lastUsed = Date.now();
    held.parked.delete(parked.handle);
    clearTimeout(parked.timer);
    const responses = isRecord(request.params.inputResponses) ? request.params.inputResponses : {};
    const missing = [...parked.inputs.keys()].filter((key) => !isRecord(responses[key]));
    if (missing.length > 0) {
      // mrtr "Error Handling": ask again for what is missing rather than failing.
      return this.#inputRequired(
        held,
        call,
        parked.reader,
        parked.legacyId,
        parked.inputs,
        parked.inputRequests,
      );
    }
    const context = this.#context(held, call.principal, call.requestId, call.signal);
    for (const [key, serverId] of parked.inputs) {
      const answer = JSON.stringify({ jsonrpc: '2.0', id: serverId, result: responses[key] });
      await held.session.post(parseMessageText(answer), undefined, context);
    }
    return this.#relay(held, call, parked.reader, parked.legacyId);
  }

  /**
   * Relays a 2025 exchange to the modern client as an SSE stream: the request's notifications,
   * then its response — or an InputRequiredResult when the server asks the client something.
   */
  async #relay(
    held: HeldSession,
    call: BridgeCall,
    reader: MessageReader,
    legacyId: string,
  ): Promise<Response> {
    const { request } = call;
    held.active += 1;
    const finish = () => {
      held.active -= 1;
      held.lastUsed = Date.now();
    };
    // The first message decides the shape: an answer that comes alone goes back as one JSON
    // body; anything before it (progress, a log line, a question) makes the answer a stream.
    const onClientGone = () => {
      reader.cancel();
      void this.#cancelUpstream(held, call, legacyId);
    };
    call.signal.addEventListener('abort', onClientGone, { once: true });
    let first: Readonly<Record<string, unknown>> | undefined;
    try {
      first = await reader.next();
    } finally {
      call.signal.removeEventListener('abort', onClientGone);
    }
    if (first !== undefined && messageKind(first) === 'response' && first.id === legacyId) {
      finish();
      return jsonResponse(this.#finalResponse(request, first, call.filter));
    }
    const capability =
      first !== undefined && messageKind(first) === 'request'
        ? INPUT_METHODS[String(first.method)]
        : undefined;
    if (capability !== undefined && !isRecord(request.clientCapabilities[capability])) {
      // Nothing sent yet: the refusal gets its own status (400, MissingRequiredClientCapability).
      const refusal = await this.#onServerRequest(
        held,
        call,
        reader,
        legacyId,
        first ?? {},
        new Map(),
      );
      finish();
      return jsonResponse(refusal ?? errorResponse(request.id, -32603, 'the bridge failed'), 400);
    }
    let settled = false;
    const stream = new PushStream({
      onCancel: () => {
        if (settled) return;
        settled = true;
        reader.cancel();
        void this.#cancelUpstream(held, call, legacyId);
      },
    });
    const pump = async (): Promise<void> => {
      const inputs = new Map<string, JsonRpcId>();
      for (let message = first; message !== undefined; message = await reader.next()) {
        if (settled) return;
        const kind = messageKind(message);
        if (kind === 'response' && message.id === legacyId) {
          settled = true;
          stream.write(event(this.#finalResponse(request, message, call.filter)));
          stream.close();
          return;
        }
        if (kind === 'notification') {
          if (relatesTo(message, request)) stream.write(event(JSON.stringify(message)));
          continue;
        }
        if (kind === 'request') {
          const parked = await this.#onServerRequest(held, call, reader, legacyId, message, inputs);
          if (parked === undefined) continue;
          settled = true;
          stream.write(event(parked));
          stream.close();
          return;
        }
      }
      if (!settled) {
        settled = true;
        stream.write(
          event(errorResponse(request.id, -32000, 'the upstream ended before answering')),
        );
        stream.close();
      }
    };
    void pump()
      .catch((error: unknown) => {
        this.#options.logger.warn(
          { err: error, upstream: this.#options.upstream },
          'bridge failed',
        );
        if (!settled) {
          settled = true;
          stream.write(event(errorResponse(request.id, -32603, 'the bridge failed')));
          stream.close();
        }
      })
      .finally(finish);
    return new Response(stream.stream, { status: 200, headers: sseHeaders() });
  }

  /**
   * A request from the 2025 server while it works: answered here when the client cannot take it
   * (capability not declared, or a ping), else parked as an input request. Returns the
   * InputRequiredResult text when the exchange was parked.
   */
  async #onServerRequest(
    held: HeldSession,
    call: BridgeCall,
    reader: MessageReader,
    legacyId: string,
    message: Readonly<Record<string, unknown>>,
    inputs: Map<string, JsonRpcId>,
  ): Promise<string | undefined> {
    const method = String(message.method);
    const capability = INPUT_METHODS[method];
    if (capability === undefined) {
      // ping, or a request no modern client can take: answered here, the exchange goes on.
      await this.#answerServer(held, call, message.id as JsonRpcId, method);
      return undefined;
    }
    if (!isRecord(call.request.clientCapabilities[capability])) {
      // The revision's answer to a request that needs what the client did not declare
      // (basic/patterns/mrtr: never send an input request the client cannot take).
      await this.#answerServer(held, call, message.id as JsonRpcId, method);
      reader.cancel();
      await this.#cancelUpstream(held, call, legacyId);
      return missingCapability(call.request.id, capability);
    }
    const key = `${capability}-${inputs.size + 1}`;
    inputs.set(key, message.id as JsonRpcId);
    const inputRequests = { [key]: { method, params: modernInputParams(method, message.params) } };
    return this.#inputRequiredText(held, call, reader, legacyId, inputs, inputRequests);
  }

  async #inputRequired(
    held: HeldSession,
    call: BridgeCall,
    reader: MessageReader,
    legacyId: string,
    inputs: ReadonlyMap<string, JsonRpcId>,
    inputRequests: Readonly<Record<string, unknown>>,
  ): Promise<Response> {
    const text = await this.#inputRequiredText(held, call, reader, legacyId, inputs, inputRequests);
    return jsonResponse(text);
  }

  /** Parks the exchange and builds the InputRequiredResult whose state names it. */
  async #inputRequiredText(
    held: HeldSession,
    call: BridgeCall,
    reader: MessageReader,
    legacyId: string,
    inputs: ReadonlyMap<string, JsonRpcId>,
    inputRequests: Readonly<Record<string, unknown>>,
  ): Promise<string> {
    const { request } = call;
    const handle = randomBytes(16).toString('base64url');
    const timer = setTimeout(() => {
      if (held.parked.get(handle) === undefined) return;
      held.parked.delete(handle);
      reader.cancel();
      void this.#cancelUpstream(held, call, legacyId);
    }, this.#options.parkTimeoutMs);
    timer.unref();
    held.parked.set(handle, {
      handle,
      reader,
      legacyId,
      inputs,
      inputRequests,
      method: request.method,
      timer,
    });
    const requestState = await this.#options.sealer.seal(
      {
        subject: call.principal.subject,
        upstream: this.#options.upstream,
        method: request.method,
        params: request.params,
      },
      { handle },
    );
    return JSON.stringify({
      jsonrpc: '2.0',
      id: request.id,
      result: { resultType: 'input_required', inputRequests, requestState },
    });
  }

  #finalResponse(
    request: ModernRequest,
    message: Readonly<Record<string, unknown>>,
    filter: ResponseFilter | undefined,
  ): string {
    if (!isRecord(message.result)) {
      return JSON.stringify({ jsonrpc: '2.0', id: request.id, error: message.error });
    }
    const response = {
      jsonrpc: '2.0',
      id: request.id,
      result: toModernResult(request.method, message.result),
    };
    return filter === undefined ? JSON.stringify(response) : filter(response);
  }

  /** Answers a server request the modern client cannot take (capability not declared). */
  async #answerServer(held: HeldSession, call: BridgeCall, id: JsonRpcId, method: string) {
    const answer =
      method === 'ping'
        ? JSON.stringify({ jsonrpc: '2.0', id, result: {} })
        : errorResponse(id, -32601, `the client did not declare support for ${method}`);
    await held.session.post(
      parseMessageText(answer),
      undefined,
      this.#context(held, call.principal, call.requestId, new AbortController().signal),
    );
  }

  async #cancelUpstream(held: HeldSession, call: BridgeCall, legacyId: string): Promise<void> {
    const text = JSON.stringify({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: legacyId, reason: 'the client closed its stream' },
    });
    try {
      await held.session.post(
        parseMessageText(text),
        undefined,
        this.#context(held, call.principal, call.requestId, new AbortController().signal),
      );
    } catch {
      // The session is gone already: nothing left to cancel.
    }
  }
}

function event(text: string): string {
  return encodeSseEvent({ event: 'message', data: text });
}

function messageKind(message: Readonly<Record<string, unknown>>) {
  if (typeof message.method === 'string') {
    return Object.hasOwn(message, 'id') ? 'request' : 'notification';
  }
  return 'response';
}

/** Progress for this request's token, and log messages (the only session-wide kind relayed). */
function relatesTo(message: Readonly<Record<string, unknown>>, request: ModernRequest): boolean {
  if (message.method === 'notifications/message') return true;
  if (message.method !== 'notifications/progress') return false;
  const meta = isRecord(request.params._meta) ? request.params._meta : {};
  const token = isRecord(message.params) ? message.params.progressToken : undefined;
  return token !== undefined && token === meta.progressToken;
}

/** The 2025 params of a modern request: the per-request envelope and retry fields removed. */
function legacyParams(params: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { _meta, inputResponses: _responses, requestState: _state, ...rest } = params;
  if (!isRecord(_meta)) return rest;
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(_meta)) {
    if (!Object.values(META).includes(key as (typeof META)[keyof typeof META])) meta[key] = value;
  }
  return Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta };
}

/** A 2025 server request's params in their 2026-07-28 input-request shape. */
function modernInputParams(method: string, params: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isRecord(params) ? { ...params } : {};
  if (method === 'elicitation/create') {
    // 2026-07-28 names the mode always; URL mode correlates through requestState instead.
    if (out.mode === undefined) out.mode = 'form';
    delete out.elicitationId;
  }
  delete out._meta;
  return out;
}

/** MissingRequiredClientCapability (-32021) naming the capability the request needs. */
function missingCapability(id: JsonRpcId, capability: string): string {
  return errorResponse(
    id,
    MODERN_ERRORS.missingClientCapability,
    `Missing required client capabilities: ${capability}`,
    { requiredCapabilities: { [capability]: {} } },
  );
}
