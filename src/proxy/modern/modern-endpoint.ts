import type { McpPolicy } from '../../mcp/index.ts';
import type { ModernRequest } from '../../mcp/modern/inbound.ts';
import {
  authorizeModern,
  type ModernDecision,
  modernResponseFilter,
} from '../../mcp/modern/policy.ts';
import { discoverFromInitialize } from '../../mcp/modern/results.ts';
import type { Principal } from '../auth-stage.ts';
import type { Answer } from '../responses.ts';
import { clientSignalOf } from './client-gone.ts';
import type { ModernHttpForwarder } from './http-forward.ts';
import type { ModernToLegacyBridge } from './legacy-bridge.ts';
import { guardListenStream, type ListenEnd } from './listen-guard.ts';
import { jsonAnswer } from './web-answers.ts';

/**
 * The 2026-07-28 path of one MCP endpoint, after authentication and inbound validation: the
 * request is authorized on its parsed body, then served by the upstream's era — forwarded as
 * is to a modern upstream, or bridged onto a held 2025 session — and its answer rewritten where
 * the gateway filters per caller. A refusal throws RequestError before anything is sent
 * upstream; the caller renders it and audits the one decision.
 */

export interface ListenSettings {
  /** The scope `subscriptions/listen` needs; undefined refuses it. */
  readonly scope: string | undefined;
  readonly keepAliveMs: number;
  /** How often a listen stream re-checks that its grant still stands. */
  readonly checkEveryMs: number;
  /** Is the caller's grant still good (not revoked)? */
  readonly stillAuthorized: (principal: Principal) => Promise<boolean>;
  /** When the caller's token expires (epoch ms), if known. */
  readonly expiresAt: (principal: Principal) => number | undefined;
  readonly onEnd?: (principal: Principal, reason: ListenEnd) => void;
}

/** How one route reaches its upstream on the modern path. */
export type ModernUpstream =
  | { readonly era: 'modern'; readonly forwarder: ModernHttpForwarder }
  | { readonly era: 'legacy'; readonly bridge: ModernToLegacyBridge };

export interface ModernCall {
  readonly policy: McpPolicy;
  readonly upstream: ModernUpstream;
  readonly listen: ListenSettings;
  readonly request: ModernRequest;
  /** The exact body text that was parsed (forwarded as is to a modern upstream). */
  readonly text: string;
  readonly principal: Principal;
  readonly requestId: string;
  /** Aborted when the client goes away. */
  readonly signal?: AbortSignal | undefined;
  /**
   * The same, told as a listener registration (returns its undo): what the gateway passes, so
   * that a request forwarded to a modern upstream builds no AbortController. Either is enough.
   */
  readonly onClientGone?: ((listener: () => void) => () => void) | undefined;
  readonly trace?: Readonly<Record<string, string>> | undefined;
  /** Told the decision once it is made, before anything reaches the upstream. */
  readonly onAuthorized?: (decision: ModernDecision) => void;
}

export async function serveModern(call: ModernCall): Promise<Answer> {
  const { request, principal, policy } = call;
  const decision = authorizeModern(policy, request, principal.scopes, {
    listenScope: call.listen.scope,
  });
  call.onAuthorized?.(decision);
  const filter = modernResponseFilter(request, decision, policy, principal.scopes);
  const upstream = call.upstream;
  if (upstream.era === 'modern') {
    const response = await upstream.forwarder.forward({
      request,
      text: call.text,
      filter,
      signal: call.signal,
      onClientGone: call.onClientGone,
      trace: call.trace,
      requestId: call.requestId,
    });
    return request.method === 'subscriptions/listen' ? guarded(response, call) : response;
  }
  const bridge = upstream.bridge;
  if (request.method === 'server/discover') {
    const initialize = await bridge.initializeResult(principal);
    const result = discoverFromInitialize(initialize, policy);
    return jsonAnswer(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }));
  }
  const bridgeCall = {
    request,
    principal,
    requestId: call.requestId,
    // The bridge waits on the client with an AbortSignal (undici and the held session take one).
    signal: call.signal ?? clientSignalOf(call),
    filter,
  };
  if (request.method === 'subscriptions/listen') {
    return guarded(await bridge.listen(bridgeCall), call);
  }
  return bridge.call(bridgeCall);
}

/** A listen stream wrapped so that it ends with the caller's authorization. */
function guarded(response: Answer, call: ModernCall): Answer {
  // A bounded answer (a refusal, an error) is no stream: nothing to guard.
  if (!(response instanceof Response)) return response;
  if (response.body === null || response.status !== 200) return response;
  const { listen, principal } = call;
  const body = guardListenStream(response.body, {
    keepAliveMs: listen.keepAliveMs,
    checkEveryMs: listen.checkEveryMs,
    expiresAt: listen.expiresAt(principal),
    stillAuthorized: () => listen.stillAuthorized(principal),
    onEnd: (reason) => listen.onEnd?.(principal, reason),
  });
  return new Response(body, { status: response.status, headers: response.headers });
}
