import { randomBytes } from 'node:crypto';
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
import { MODERN_ERRORS } from '../../mcp/modern/protocol.ts';
import type { RequestStateSealer } from '../../mcp/modern/request-state.ts';
import { toModernResult } from '../../mcp/modern/results.ts';
import type { Principal } from '../auth-stage.ts';
import { PushStream } from '../push-stream.ts';
import { type Answer, sseHeaders } from '../responses.ts';
import {
  event,
  INPUT_METHODS,
  legacyParams,
  messageKind,
  missingCapability,
  modernInputParams,
  relatesTo,
} from './bridge-messages.ts';
import { bridgedListen } from './bridged-listen.ts';
import {
  type HeldSession,
  HeldSessions,
  type HeldSessionsOptions,
  heldContext,
} from './held-sessions.ts';
import { MessageReader } from './message-reader.ts';
import { jsonAnswer } from './web-answers.ts';

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

/** Exchanges one subject may have waiting for its answers on one upstream. */
const MAX_PARKED = 16;

export interface LegacyBridgeOptions extends HeldSessionsOptions {
  /** The upstream's name (bound into every requestState). */
  readonly upstream: string;
  readonly sealer: RequestStateSealer;
  readonly logger: Logger;
  /** How long a parked exchange waits for the client's retry (the requestState lifetime). */
  readonly parkTimeoutMs: number;
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

export class ModernToLegacyBridge {
  readonly #options: LegacyBridgeOptions;
  readonly #sessions: HeldSessions;
  #counter = 0;

  constructor(options: LegacyBridgeOptions) {
    this.#options = options;
    this.#sessions = new HeldSessions(options);
  }

  /** Held sessions now (for readiness and tests). */
  get size(): number {
    return this.#sessions.size;
  }

  /** The 2025 server's initialize result, for a modern client's server/discover. */
  async initializeResult(principal: Principal): Promise<Readonly<Record<string, unknown>>> {
    return (await this.#sessions.get(principal)).initialize;
  }

  /** `subscriptions/listen` served from the subject's held session (bridged-listen.ts). */
  async listen(call: BridgeCall): Promise<Response> {
    const held = await this.#sessions.get(call.principal);
    return bridgedListen(held, call.request, call.principal, call.requestId);
  }

  /** Closes sessions idle for longer than the timeout, and those whose upstream ended. */
  sweep(now: number): Promise<void> {
    return this.#sessions.sweep(now);
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  /** Serves one modern request on the subject's held session. */
  async call(call: BridgeCall): Promise<Answer> {
    const { request } = call;
    // A retry is checked before anything else: a bad state reaches no upstream, not even an
    // initialize for a subject that holds no session yet.
    if (Object.hasOwn(request.params, 'requestState')) return this.#resume(call);
    const held = await this.#sessions.get(call.principal);
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
      heldContext(held, call.principal, call.requestId, call.signal),
    );
    return this.#relay(held, call, new MessageReader(response), legacyId);
  }

  /** Continues a parked exchange with the client's answers. */
  async #resume(call: BridgeCall): Promise<Answer> {
    const { request } = call;
    const opened = await this.#options.sealer.open(request.params.requestState, {
      subject: call.principal.subject,
      upstream: this.#options.upstream,
      method: request.method,
      params: request.params,
    });
    const handle = opened.ok ? opened.state.handle : undefined;
    const held = await this.#sessions.existing(call.principal.subject);
    const parked = typeof handle === 'string' ? held?.parked.get(handle) : undefined;
    if (!opened.ok || held === undefined || parked === undefined) {
      const reason = opened.ok ? 'unknown-or-used' : opened.reason;
      this.#options.logger.info(
        { upstream: this.#options.upstream, reason, requestId: call.requestId },
        'refused a requestState',
      );
      return jsonAnswer(
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
    const context = heldContext(held, call.principal, call.requestId, call.signal);
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
  ): Promise<Answer> {
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
      return jsonAnswer(this.#finalResponse(request, first, call.filter));
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
      return jsonAnswer(refusal ?? errorResponse(request.id, -32603, 'the bridge failed'), 400);
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
  ): Promise<Answer> {
    const text = await this.#inputRequiredText(held, call, reader, legacyId, inputs, inputRequests);
    return jsonAnswer(text);
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
    const drop = (parked: { handle: string; reader: MessageReader; legacyId: string }) => {
      held.parked.delete(parked.handle);
      parked.reader.cancel();
      void this.#cancelUpstream(held, call, parked.legacyId);
    };
    // Each parked exchange holds a request open upstream: a subject keeps a bounded number, the
    // oldest giving way (its retry then gets 400, as an expired one does).
    const oldest = held.parked.values().next();
    if (held.parked.size >= MAX_PARKED && !oldest.done) {
      clearTimeout(oldest.value.timer);
      drop(oldest.value);
    }
    const timer = setTimeout(() => {
      if (held.parked.get(handle) !== undefined) drop({ handle, reader, legacyId });
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
      heldContext(held, call.principal, call.requestId, new AbortController().signal),
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
        heldContext(held, call.principal, call.requestId, new AbortController().signal),
      );
    } catch {
      // The session is gone already: nothing left to cancel.
    }
  }
}
