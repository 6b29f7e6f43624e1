import { performance } from 'node:perf_hooks';
import { RequestError } from '../errors/index.ts';
import { publish, rateLimitChannel } from '../lib/channels.ts';
import type { Logger } from '../lib/log.ts';
import {
  isRecord,
  type JsonRpcMessage,
  type ParsedMessage,
  parseClientMessage,
  type ResponseFilter,
  responseFilterFor,
} from '../mcp/index.ts';
import { classifyInbound, headersNameStatelessEra } from '../mcp/modern/inbound.ts';
import type { AuthStage, Principal, RequestHeaders } from './auth-stage.ts';
import type { ModernRuntime } from './modern/runtime.ts';
import { modernStage } from './modern/stage.ts';
import type { RateLimitDecision, RateLimiter } from './rate-limit.ts';
import { authorizeNoting, noteMessage, type RequestFacts, reasonOf } from './request-facts.ts';
import { type Answer, accepts, errorToResponse } from './responses.ts';
import type { McpRoute } from './routes.ts';
import {
  type ExchangeContext,
  SESSION_ID_PATTERN,
  type SessionRegistry,
  type UpstreamConnector,
  type UpstreamSession,
} from './sessions.ts';
import type { StreamLeases } from './stream-leases.ts';

/**
 * One MCP endpoint (an upstream's path), as an ordered list of stages:
 *   method → a 2025 session this replica does not hold: 404 → address limit (in memory under
 *   a shared limiter) → authenticate → subject and session limits (one round trip to a shared
 *   limiter, the address counted with them) → read and parse the body once → its era: a
 *   2026-07-28 request goes to the modern stage (src/proxy/modern/stage.ts); a 2025 one is
 *   authorized on that parse → session (bound to the subject) → forward the parsed text.
 * A refusal at any stage means the upstream sees nothing.
 */

/** A request as the HTTP front hands it over: checked, normalized, body not yet read. */
export interface GatewayRequest {
  readonly method: string;
  /** The normalized path (the one string used for routing and policy). */
  readonly path: string;
  readonly headers: RequestHeaders;
  readonly requestId: string;
  /** The client's address (X-Forwarded-For believed only from trusted proxies). */
  readonly clientAddress: string;
  /** Calls `listener` if the client goes away first (see ExchangeContext.onClientGone). */
  onClientGone(listener: () => void): () => void;
  /** What the stages learn, for the request's one audit record and metrics observation. */
  readonly facts: RequestFacts;
  /** Reads the body, bounded by remote_mcp.max_body_bytes (413 beyond). */
  readBody(): Promise<Uint8Array>;
}

export interface EndpointDeps {
  readonly auth: AuthStage;
  readonly limiter: RateLimiter;
  readonly sessions: SessionRegistry;
  readonly connectorFor: (route: McpRoute) => UpstreamConnector;
  readonly logger: Logger;
  /** Ends server-to-client streams whose credential lapsed (stream-leases.ts). */
  readonly streams?: StreamLeases;
  /** Protocol eras: the 2026-07-28 path and the bridges (docs/protocol-eras.md). */
  readonly modern: ModernRuntime;
  /**
   * Where decisions are logged: at debug when the audit trail records each of them (one record
   * per decision is the audit trail's job, not the log's), at info when nothing audits.
   */
  readonly decisionLevel: 'debug' | 'info';
}

const ALLOWED_METHODS = 'GET, POST, DELETE';

export async function handleMcpRequest(
  route: McpRoute,
  request: GatewayRequest,
  deps: EndpointDeps,
): Promise<Answer> {
  // A child logger only when something is logged: building one per request costs more than
  // the line it would write, and most requests write none.
  let child: Logger | undefined;
  const logger = () =>
    (child ??= deps.logger.child({ requestId: request.requestId, route: route.path }));
  try {
    return await mcpStages(route, request, deps, logger);
  } catch (error) {
    request.facts.reason = reasonOf(error);
    if (!(error instanceof RequestError)) {
      logger().error({ err: error }, 'request failed');
      return errorToResponse(error);
    }
    if (error.status >= 500)
      logger().warn({ code: error.code, status: error.status }, error.message);
    else if (deps.logger.isLevelEnabled(deps.decisionLevel)) {
      logger()[deps.decisionLevel]({ code: error.code, status: error.status }, error.message);
    }
    const challenge = deps.auth.challenge(error, route);
    return errorToResponse(error, challenge === undefined ? {} : { 'www-authenticate': challenge });
  }
}

async function mcpStages(
  route: McpRoute,
  request: GatewayRequest,
  deps: EndpointDeps,
  logger: () => Logger,
): Promise<Answer> {
  const { method, headers, facts } = request;
  if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
    throw new RequestError('MethodNotAllowed', `${method} is not supported here`, {
      details: { allow: ALLOWED_METHODS },
    });
  }
  // A 2026-07-28 POST carries no session: a stray Mcp-Session-Id on it is ignored — never
  // answered 404, never counted (streamable-http, stateless revision). The header says so before
  // the body is read; the body's own classification below has the last word.
  const stateless = method === 'POST' && headersNameStatelessEra(headers);
  const claimed = stateless ? undefined : headers['mcp-session-id'];
  if (claimed !== undefined && !heldHere(deps.sessions, route, claimed)) {
    await refuseSessionHeldElsewhere(deps, request, route, claimed);
  }
  // Before any token work, so a flood of bad tokens costs no signature checks
  // (HT-15 in docs/security-cases.md). A limiter shared by replicas screens the address in
  // this process here and counts it in the shared store with the subject and session below: one
  // round trip per request (SharedRateLimiter in rate-limit.ts says what that trades).
  await screenAddress(deps.limiter, request.clientAddress);
  const principal = await authenticateCounting(deps, request, route);
  facts.principal = principal;
  // GET and DELETE name their session outright; a POST's is read once its body is known to be
  // 2025 traffic (a malformed id on a 2026-07-28 POST is as stray as any other).
  const sessionId = method === 'POST' ? undefined : sessionIdOf(headers);
  facts.sessionId = sessionId;
  // The subject's and the session's counters, asked together (one round trip to a shared
  // limiter). The session is counted only when it is this subject's, here: a session that is
  // not is answered 404 below and spends nothing.
  const counted = sessionCounted(deps, route, principal, sessionId ?? claimed);
  await limitAll(deps.limiter, request.clientAddress, [
    ...(deps.auth.mode === 'oauth'
      ? [{ scope: 'subject' as const, value: principal.subject }]
      : []),
    ...(counted === undefined ? [] : [{ scope: 'session' as const, value: counted.id }]),
  ]);
  const context: ExchangeContext = {
    principal,
    requestId: request.requestId,
    headers,
    onClientGone: (listener) => request.onClientGone(listener),
  };

  if (method === 'POST') {
    checkPostHeaders(headers);
    const parsed = parseClientMessage(await request.readBody());
    noteMessage(facts, route, parsed.message);
    const era = classifyInbound({ httpMethod: method, headers, body: parsed.raw });
    if (era.kind !== 'legacy') {
      return await modernStage({
        route,
        outcome: era,
        parsed,
        principal,
        headers,
        requestId: request.requestId,
        client: request,
        facts,
        runtime: deps.modern,
        auth: deps.auth,
        logger,
      });
    }
    return await legacyPost({ route, deps, logger, principal, context, facts }, parsed, stateless);
  }

  if (sessionId === undefined) {
    // GET and DELETE belong to 2025 sessions; the stateless revision has neither
    // (streamable-http "Earlier Streamable HTTP Revisions": 405).
    throw new RequestError('MethodNotAllowed', `${method} needs an MCP session`, {
      details: { allow: 'POST' },
    });
  }
  if (method === 'GET') {
    if (!accepts(headers.accept, 'text/event-stream')) {
      throw new RequestError(
        'RequestNotAcceptable',
        'GET opens an SSE stream: Accept text/event-stream',
      );
    }
    const session = await findSession(deps, route, principal, sessionId);
    const stream = await timed(facts, () => session.get(context));
    // The stream ends with its credential (or after the idle limit under local trust).
    const maxLifetimeMs = route.upstream.session_idle_timeout_seconds * 1000;
    return deps.streams?.hold(stream, principal, maxLifetimeMs) ?? stream;
  }

  const session = await findSession(deps, route, principal, sessionId);
  await deps.sessions.end(session);
  logger().info({ subject: principal.subject }, 'session ended by the client');
  return await timed(facts, () => session.delete(context));
}

/** What the stages after authentication share. */
interface Stage {
  readonly route: McpRoute;
  readonly deps: EndpointDeps;
  /** The request's child logger, built on first use (handleMcpRequest). */
  readonly logger: () => Logger;
  readonly principal: Principal;
  readonly context: ExchangeContext;
  readonly facts: RequestFacts;
}

/**
 * A 2025 POST: authorized on its parse, then forwarded within its session (or opening one).
 * `stateless`: its headers named the 2026-07-28 revision, so its session was not counted yet.
 */
async function legacyPost(
  stage: Stage,
  parsed: ParsedMessage,
  stateless: boolean,
): Promise<Answer> {
  const { route, deps, logger, principal, context, facts } = stage;
  const { headers } = context;
  const sessionId = sessionIdOf(headers);
  facts.sessionId = sessionId;
  // Headers that named the stateless era over a 2025 body: the session was not counted with
  // the subject above, so it is counted now (the body decides the era).
  const late = stateless ? sessionCounted(deps, route, principal, sessionId) : undefined;
  if (late !== undefined) await limit(deps.limiter, 'session', late.id);
  checkMirroredHeaders(headers, parsed.message);
  const decision = authorizeNoting(route, parsed.message, principal, facts);
  const isInitialize = parsed.message.kind === 'request' && parsed.message.method === 'initialize';
  let session: UpstreamSession;
  if (isInitialize) {
    if (sessionId !== undefined) {
      throw new RequestError(
        'RequestMalformed',
        'initialize starts a session; omit Mcp-Session-Id',
      );
    }
    // Opening a session may start a child process: from here on, a failure is the upstream's.
    facts.upstreamAttempted = true;
    session = deps.sessions.open(deps.connectorFor(route), principal);
    facts.sessionId = session.id;
  } else {
    session = await findSession(deps, route, principal, sessionId);
  }
  const filter = responseFilterFor(parsed.message, decision, route.policy, principal.scopes);
  if (deps.logger.isLevelEnabled(deps.decisionLevel)) {
    logDecision(logger(), deps.decisionLevel, principal, parsed.message);
  }
  const answer = await forward(session, parsed, filter, context, deps, isInitialize, facts);
  // An upstream that refuses initialize with 400 may speak only 2026-07-28: once the probe
  // says so, the bridge answers initialize instead (docs/protocol-eras.md).
  if (!isInitialize || answer.status !== 400 || !(await deps.modern.turnedModern(route))) {
    return answer;
  }
  if (answer instanceof Response) await answer.body?.cancel().catch(() => {});
  session = deps.sessions.open(deps.connectorFor(route), principal);
  facts.sessionId = session.id;
  return await forward(session, parsed, filter, context, deps, isInitialize, facts);
}

/** A malformed id (refused later), or a session this replica holds. */
function heldHere(sessions: SessionRegistry, route: McpRoute, claimed: string): boolean {
  return !SESSION_ID_PATTERN.test(claimed) || sessions.holds(claimed, route);
}

/**
 * A 2025 session this replica does not hold is 404 before anything is counted: behind a load
 * balancer that tries the next replica on 404, only the replica that holds the session spends
 * rate-limit budget on the request (MCP Streamable HTTP: 404 means start a new session). With a
 * shared store, a session of an HTTP upstream opened on another replica is read from the store
 * first (once per replica) and served here; the address is screened in memory before that read,
 * so ids made up by the thousand cost the store no more than the address limit allows.
 */
async function refuseSessionHeldElsewhere(
  deps: EndpointDeps,
  request: GatewayRequest,
  route: McpRoute,
  claimed: string,
): Promise<void> {
  const connector = deps.connectorFor(route);
  if (connector.resume !== undefined && deps.sessions.shared) {
    if (deps.limiter.screen !== undefined) {
      refuseOver('address', deps.limiter.screen(`address:${request.clientAddress}`));
    }
    if (await deps.sessions.adopt(claimed, route, connector)) return;
  }
  request.facts.sessionId = claimed;
  throw new RequestError('McpSessionNotFound', 'no such session; initialize a new one');
}

/** Calls the upstream, counting the wait as upstream time (metrics: gateway overhead excludes it). */
async function timed(facts: RequestFacts, call: () => Promise<Answer>): Promise<Answer> {
  facts.upstreamAttempted = true;
  const started = performance.now();
  try {
    return await call();
  } finally {
    facts.upstreamMs += performance.now() - started;
  }
}

async function forward(
  session: UpstreamSession,
  parsed: ParsedMessage,
  filter: ResponseFilter | undefined,
  context: ExchangeContext,
  deps: EndpointDeps,
  isInitialize: boolean,
  facts: RequestFacts,
): Promise<Answer> {
  // Upstream time, as timed() counts it, without a closure and a promise more per request.
  facts.upstreamAttempted = true;
  const started = performance.now();
  try {
    let response: Answer;
    try {
      response = await session.post(parsed, filter, context);
    } finally {
      facts.upstreamMs += performance.now() - started;
    }
    if (isInitialize && (response.status < 200 || response.status >= 300)) {
      deps.sessions.remove(session);
      if (!(response instanceof Response)) {
        void session.close('initialize failed');
        return response;
      }
      // The refusal is read whole before the session closes: closing first would abort the
      // body on its way and drop the client's connection instead of relaying why.
      const body = await response.arrayBuffer().catch(() => undefined);
      void session.close('initialize failed');
      return new Response(body ?? null, { status: response.status, headers: response.headers });
    }
    return response;
  } catch (error) {
    if (isInitialize) {
      deps.sessions.remove(session);
      void session.close('initialize failed');
    }
    throw error;
  }
}

async function findSession(
  deps: EndpointDeps,
  route: McpRoute,
  principal: Principal,
  sessionId: string | undefined,
): Promise<UpstreamSession> {
  if (sessionId === undefined) {
    throw new RequestError('RequestMalformed', 'Mcp-Session-Id is required after initialize');
  }
  // Counted already, with the subject (mcpStages).
  return deps.sessions.find(sessionId, route, principal);
}

/**
 * The session a request names, when it is a live one of this subject's on this route: the one
 * counted against the session limit. Anything else is refused (404 or 400) later, uncounted.
 */
function sessionCounted(
  deps: EndpointDeps,
  route: McpRoute,
  principal: Principal,
  id: string | undefined,
): UpstreamSession | undefined {
  if (id === undefined || !SESSION_ID_PATTERN.test(id)) return undefined;
  return deps.sessions.lookup(id, route, principal);
}

/** The gateway issues the session ids, so anything not shaped like one is refused outright. */
function sessionIdOf(headers: RequestHeaders): string | undefined {
  const value = headers['mcp-session-id'];
  if (value === undefined) return undefined;
  if (!SESSION_ID_PATTERN.test(value)) {
    throw new RequestError('RequestMalformed', 'Mcp-Session-Id is malformed');
  }
  return value;
}

type LimitScope = 'address' | 'session' | 'subject';

/**
 * The address limit before token work: counted outright by a limiter in this process, screened
 * in this process by a shared one (which counts it in the shared store after authentication).
 */
async function screenAddress(limiter: RateLimiter, address: string): Promise<void> {
  const key = `address:${address}`;
  refuseOver(
    'address',
    limiter.screen === undefined ? await limiter.consume(key) : limiter.screen(key),
  );
}

/**
 * Authenticates; a request the credentials refuse still counts its address in a shared
 * limiter (one call), so a flood of bad tokens spends the address's budget on every replica.
 */
async function authenticateCounting(
  deps: EndpointDeps,
  request: GatewayRequest,
  route: McpRoute,
): Promise<Principal> {
  try {
    return await deps.auth.authenticate(request.headers, { method: request.method, route });
  } catch (error) {
    if (
      deps.limiter.consumeAll !== undefined &&
      error instanceof RequestError &&
      error.status < 500
    ) {
      await limit(deps.limiter, 'address', request.clientAddress);
    }
    throw error;
  }
}

/**
 * Several counters at once; every one is counted, and the first refusal is the answer. A
 * shared limiter counts them in one atomic call, the address included (screened before).
 */
async function limitAll(
  limiter: RateLimiter,
  address: string,
  checks: readonly { scope: 'session' | 'subject'; value: string }[],
): Promise<void> {
  if (limiter.consumeAll !== undefined) {
    const all: readonly { scope: LimitScope; value: string }[] = [
      { scope: 'address', value: address },
      ...checks,
    ];
    const decisions = await limiter.consumeAll(all.map((check) => `${check.scope}:${check.value}`));
    all.forEach((check, index) => {
      const decision = decisions[index];
      if (decision !== undefined) refuseOver(check.scope, decision);
    });
    return;
  }
  const outcomes = await Promise.allSettled(
    checks.map((check) => limit(limiter, check.scope, check.value)),
  );
  const refused = outcomes.find((outcome) => outcome.status === 'rejected');
  if (refused !== undefined) throw refused.reason;
}

async function limit(limiter: RateLimiter, scope: LimitScope, value: string): Promise<void> {
  refuseOver(scope, await limiter.consume(`${scope}:${value}`));
}

function refuseOver(scope: LimitScope, decision: RateLimitDecision): void {
  if (!decision.allowed) {
    publish(rateLimitChannel, { scope });
    throw new RequestError('RateLimited', 'too many requests; retry later', {
      details: { retryAfter: String(decision.retryAfterSeconds) },
    });
  }
}

/** JSON bodies (MCP transports); encoded bodies are refused (HT-10 in docs/security-cases.md). */
function checkPostHeaders(headers: RequestHeaders): void {
  const contentType = headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json') {
    throw new RequestError('RequestUnsupportedMediaType', 'the body must be application/json');
  }
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw new RequestError(
      'RequestUnsupportedMediaType',
      'encoded request bodies are not accepted',
    );
  }
  const accept = headers.accept;
  if (!accepts(accept, 'application/json') && !accepts(accept, 'text/event-stream')) {
    throw new RequestError(
      'RequestNotAcceptable',
      'Accept must allow application/json or text/event-stream',
    );
  }
}

/**
 * Headers that mirror the body (the MCP draft's Mcp-Method and Mcp-Name) must agree with it, so
 * that nothing downstream can decide on a header the policy never read (SCOPE-06 in
 * docs/security-cases.md). The decision itself is always made on the body.
 */
function checkMirroredHeaders(headers: RequestHeaders, message: JsonRpcMessage): void {
  const mirroredMethod = headers['mcp-method'];
  const mirroredName = headers['mcp-name'];
  if (mirroredMethod === undefined && mirroredName === undefined) return;
  const method = message.kind === 'response' ? undefined : message.method;
  if (mirroredMethod !== undefined && mirroredMethod !== method) {
    throw new RequestError('RequestMalformed', 'Mcp-Method does not match the body');
  }
  if (mirroredName !== undefined) {
    const params = message.kind === 'response' ? undefined : message.params;
    const name = isRecord(params) ? (params.name ?? params.uri) : undefined;
    if (mirroredName !== name) {
      throw new RequestError('RequestMalformed', 'Mcp-Name does not match the body');
    }
  }
}

function logDecision(
  logger: Logger,
  level: 'debug' | 'info',
  principal: Principal,
  message: JsonRpcMessage,
): void {
  const method = message.kind === 'response' ? '(response)' : message.method;
  const tool =
    message.kind === 'request' && message.method === 'tools/call'
      ? message.params?.name
      : undefined;
  logger[level](
    {
      subject: principal.subject,
      clientId: principal.clientId,
      tokenIdHash: principal.tokenIdHash,
      method,
      ...(tool === undefined ? {} : { tool }),
    },
    'allowed',
  );
}
