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
import type { AuthStage, Principal, RequestHeaders } from './auth-stage.ts';
import type { RateLimiter } from './rate-limit.ts';
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

/**
 * One MCP endpoint (an upstream's path), as an ordered list of stages:
 *   method → address limit → authenticate → read and parse the body once → authorize that parse
 *   → session (bound to the subject) → session and subject limits → forward the parsed text.
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
  // Before any token work, so a flood of bad tokens costs no signature checks
  // (HT-15 in docs/security-cases.md).
  await limit(deps.limiter, 'address', request.clientAddress);
  const principal = await deps.auth.authenticate(headers);
  facts.principal = principal;
  if (deps.auth.mode === 'oauth') await limit(deps.limiter, 'subject', principal.subject);
  const sessionId = sessionIdOf(headers);
  facts.sessionId = sessionId;
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
    checkMirroredHeaders(headers, parsed.message);
    const decision = authorizeNoting(route, parsed.message, principal, facts);
    const isInitialize =
      parsed.message.kind === 'request' && parsed.message.method === 'initialize';
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
    return await forward(session, parsed, filter, context, deps, isInitialize, facts);
  }

  if (method === 'GET') {
    if (!accepts(headers.accept, 'text/event-stream')) {
      throw new RequestError(
        'RequestNotAcceptable',
        'GET opens an SSE stream: Accept text/event-stream',
      );
    }
    const session = await findSession(deps, route, principal, sessionId);
    return await timed(facts, () => session.get(context));
  }

  const session = await findSession(deps, route, principal, sessionId);
  deps.sessions.remove(session);
  logger().info({ subject: principal.subject }, 'session ended by the client');
  return await timed(facts, () => session.delete(context));
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
  try {
    const response = await timed(facts, () => session.post(parsed, filter, context));
    if (isInitialize && (response.status < 200 || response.status >= 300)) {
      deps.sessions.remove(session);
      void session.close('initialize failed');
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
  const session = deps.sessions.find(sessionId, route, principal);
  await limit(deps.limiter, 'session', session.id);
  return session;
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

async function limit(
  limiter: RateLimiter,
  scope: 'address' | 'session' | 'subject',
  value: string,
): Promise<void> {
  const decision = await limiter.consume(`${scope}:${value}`);
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
