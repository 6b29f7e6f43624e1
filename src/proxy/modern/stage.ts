import { performance } from 'node:perf_hooks';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import type { ParsedMessage } from '../../mcp/index.ts';
import {
  type InboundOutcome,
  type ModernRequest,
  rejectionBody,
} from '../../mcp/modern/inbound.ts';
import { isModernMethod, methodNotFound, renderRefusal } from '../../mcp/modern/refusal.ts';
import type { AuthStage, Principal, RequestHeaders } from '../auth-stage.ts';
import type { RequestFacts } from '../request-facts.ts';
import type { Answer } from '../responses.ts';
import type { McpRoute } from '../routes.ts';
import { traceContextOf } from '../trace-context.ts';
import { whenClientGone } from './client-gone.ts';
import { type ListenSettings, serveModern } from './modern-endpoint.ts';
import type { ModernRuntime } from './runtime.ts';
import { acceptedAnswer, jsonAnswer, refusalAnswer } from './web-answers.ts';

/**
 * The endpoint stage for a POST the inbound classifier did not call 2025 traffic: a rejection
 * answered with its JSON-RPC error (nothing reaches the upstream), a notification accepted, a
 * request authorized and served by the route's era. What it learns goes into the request's
 * facts, so the request gets its one audit record like any other.
 */

/** How often a listen stream re-verifies the token that opened it (revocation, expiry). */
const LISTEN_CHECK_MS = 500;
const LISTEN_KEEP_ALIVE_MS = 15_000;

export interface ModernStageInput {
  readonly route: McpRoute;
  readonly outcome: Exclude<InboundOutcome, { kind: 'legacy' }>;
  readonly parsed: ParsedMessage;
  readonly principal: Principal;
  readonly headers: RequestHeaders;
  readonly requestId: string;
  /** The gateway request (tells when the client goes away, as a signal or a listener). */
  readonly client: object;
  readonly facts: RequestFacts;
  readonly runtime: ModernRuntime;
  readonly auth: AuthStage;
  /** The request's logger, or how to build it: most requests log nothing, so lazily. */
  readonly logger: Logger | (() => Logger);
}

export async function modernStage(input: ModernStageInput): Promise<Answer> {
  const { outcome, facts, route } = input;
  if (outcome.kind === 'reject') {
    facts.reason = 'RequestMalformed';
    return jsonAnswer(rejectionBody(outcome), outcome.status);
  }
  if (outcome.kind === 'modern-notification') return acceptedAnswer();
  const { request } = outcome;
  if (!isModernMethod(request.method)) {
    facts.reason = 'McpMethodDenied';
    return refusalAnswer(methodNotFound(request.id, request.method));
  }
  const started = performance.now();
  try {
    return await serve(input, request);
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    // Refused after the body was read: the answer is a JSON-RPC error (with the catalogue's
    // status, headers and code), as every answer to a modern client's POST is.
    facts.reason = error.code;
    const scope = error.details.scope;
    if (scope !== undefined) facts.requiredScopes = [scope];
    if (error.status < 500) facts.upstreamAttempted = false;
    else loggerOf(input).warn({ code: error.code, upstream: route.name }, error.message);
    const challenge = input.auth.challenge(error, route);
    return refusalAnswer(
      renderRefusal(
        error,
        request.id,
        challenge === undefined ? {} : { 'www-authenticate': challenge },
      ),
    );
  } finally {
    facts.upstreamMs += performance.now() - started;
  }
}

async function serve(input: ModernStageInput, request: ModernRequest): Promise<Answer> {
  const { facts, route } = input;
  const upstream = input.runtime.knownUpstream(route) ?? (await input.runtime.upstreamFor(route));
  const trace = traceContextOf(input.headers);
  facts.upstreamAttempted = true;
  return await serveModern({
    policy: route.policy,
    upstream,
    listen: request.method === 'subscriptions/listen' ? listenSettings(input) : NOT_LISTENING,
    request,
    text: input.parsed.text,
    principal: input.principal,
    requestId: input.requestId,
    onClientGone: (listener) => whenClientGone(input.client, listener),
    trace:
      trace === undefined
        ? undefined
        : trace.tracestate === undefined
          ? { traceparent: trace.traceparent }
          : { traceparent: trace.traceparent, tracestate: trace.tracestate },
    onAuthorized: (decision) => {
      facts.requiredScopes = decision.scopes;
    },
  });
}

/**
 * What a request that opens no listen stream is given: nothing reads it (the policy reads the
 * listen scope for subscriptions/listen alone), so no settings are built for every call.
 */
const NOT_LISTENING: ListenSettings = {
  scope: undefined,
  keepAliveMs: LISTEN_KEEP_ALIVE_MS,
  checkEveryMs: LISTEN_CHECK_MS,
  stillAuthorized: async () => false,
  expiresAt: () => undefined,
};

/** The settings of one subscriptions/listen stream: it ends with the caller's authorization. */
function listenSettings(input: ModernStageInput): ListenSettings {
  const { route, headers, auth } = input;
  return {
    scope: route.upstream.method_scopes.listen,
    keepAliveMs: LISTEN_KEEP_ALIVE_MS,
    checkEveryMs: LISTEN_CHECK_MS,
    // The token is verified again as a whole: revocation and expiry both end the stream. The
    // principal's own re-check verifies the same token without a new DPoP proof (a proof is
    // single use, RFC 9449 §11.1); without one (local trust), authenticate again.
    stillAuthorized: (principal: Principal) =>
      principal.stillValid !== undefined
        ? principal.stillValid()
        : auth.authenticate(headers, { method: 'POST', route }).then(
            () => true,
            () => false,
          ),
    expiresAt: () => undefined,
    onEnd: (principal, reason) =>
      loggerOf(input).info(
        { upstream: route.name, subject: principal.subject, reason },
        'subscriptions/listen stream ended',
      ),
  };
}

function loggerOf(input: ModernStageInput): Logger {
  return typeof input.logger === 'function' ? input.logger() : input.logger;
}
