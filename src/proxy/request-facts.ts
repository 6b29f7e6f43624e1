import { performance } from 'node:perf_hooks';
import {
  type AuditDecision,
  type AuditEventName,
  type AuditSink,
  redactArguments,
} from '../audit/index.ts';
import { RequestError } from '../errors/index.ts';
import { publish, requestChannel } from '../lib/channels.ts';
import type { Decision, JsonRpcMessage } from '../mcp/index.ts';
import type { Principal } from './auth-stage.ts';
import { RequestAuditRecord } from './request-audit-record.ts';
import type { McpRoute } from './routes.ts';

/**
 * What the stages learn about one request, filled in as it goes, so that exactly one audit
 * record and one metrics observation are made when its answer is decided, whichever stage
 * decided it. Never holds the token.
 */
export interface RequestFacts {
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /**
   * What was asked for: an MCP endpoint (always audited), a metadata document or CORS
   * preflight (audited when refused), a probe — health, readiness, metrics — (audited when
   * refused, never counted in the request metrics), or nothing routed yet.
   */
  kind: 'mcp' | 'metadata' | 'preflight' | 'probe' | 'unrouted';
  upstream: string | undefined;
  path: string | undefined;
  principal: Principal | undefined;
  sessionId: string | undefined;
  /** JSON-RPC method; undefined before the body is parsed, or for a client's response. */
  method: string | undefined;
  /** True when the body was a JSON-RPC response (to a server request). */
  isResponse: boolean;
  tool: string | undefined;
  requiredScopes: readonly string[] | undefined;
  /** Redacted tool arguments, when the upstream enables them. */
  arguments: unknown;
  traceId: string | undefined;
  /** True once the gateway tried to reach (or start) the upstream. */
  upstreamAttempted: boolean;
  /** Milliseconds spent waiting on the upstream. */
  upstreamMs: number;
  /** The error code of a refusal. */
  reason: string | undefined;
  /** True once recorded: one record per request, whatever happens afterwards. */
  finished: boolean;
}

export function newRequestFacts(startedAt = performance.now()): RequestFacts {
  return {
    startedAt,
    kind: 'unrouted',
    upstream: undefined,
    path: undefined,
    principal: undefined,
    sessionId: undefined,
    method: undefined,
    isResponse: false,
    tool: undefined,
    requiredScopes: undefined,
    arguments: undefined,
    traceId: undefined,
    upstreamAttempted: false,
    upstreamMs: 0,
    reason: undefined,
    finished: false,
  };
}

/** The error code an error is rendered with (src/errors renders anything else as InternalError). */
export function reasonOf(error: unknown): string {
  return error instanceof RequestError ? error.code : 'InternalError';
}

/** Audit records never carry unbounded client strings. */
const MAX_FIELD = 256;
/** Redacted arguments larger than this are recorded by size only. */
const MAX_ARGUMENT_BYTES = 16 * 1024;

export function clip(value: string): string {
  return value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD)}…` : value;
}

/** Tool arguments as they may enter the trail: redacted, and bounded. */
export function auditedArguments(value: unknown, redactKeys: readonly string[]): unknown {
  const redacted = redactArguments(value, redactKeys);
  const bytes = Buffer.byteLength(JSON.stringify(redacted) ?? '');
  return bytes > MAX_ARGUMENT_BYTES ? { truncated_bytes: bytes } : redacted;
}

const DENIED = new Set(['AuthMissingScope', 'McpMethodDenied', 'McpToolDenied']);
const UPSTREAM = new Set(['UpstreamFailed', 'UpstreamUnavailable', 'InternalError']);

/** Which event a request's outcome is, and the decision it records. */
export function classify(facts: RequestFacts): { event: AuditEventName; decision: AuditDecision } {
  const reason = facts.reason;
  if (reason === undefined) return { event: 'mcp.request.allowed', decision: 'allow' };
  if (reason === 'AuthUnavailable') return { event: 'auth.token.rejected', decision: 'error' };
  if (DENIED.has(reason)) return { event: 'mcp.request.denied', decision: 'deny' };
  if (reason.startsWith('Auth')) return { event: 'auth.token.rejected', decision: 'deny' };
  if (reason === 'RateLimited') return { event: 'ratelimit.exceeded', decision: 'deny' };
  if (reason === 'CapacityExceeded') return { event: 'capacity.exceeded', decision: 'error' };
  // Refusals that happen before any upstream was tried (shutting down, say) are the gateway's.
  if (UPSTREAM.has(reason) && facts.upstreamAttempted) {
    return { event: 'upstream.failed', decision: 'error' };
  }
  return {
    event: 'http.request.refused',
    decision: reason === 'AuditUnavailable' || UPSTREAM.has(reason) ? 'error' : 'deny',
  };
}

/** JSON-RPC methods the metrics name; any other (client-chosen) method is counted as `other`. */
const KNOWN_METHODS = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
]);
const KNOWN_HTTP_METHODS = new Set(['GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PUT', 'PATCH']);

/** The `method` label: bounded, so a client cannot grow the series without limit. */
export function methodLabel(facts: RequestFacts, httpMethod: string): string {
  if (facts.isResponse) return 'response';
  if (facts.method !== undefined) return KNOWN_METHODS.has(facts.method) ? facts.method : 'other';
  return KNOWN_HTTP_METHODS.has(httpMethod) ? httpMethod : 'other';
}

export interface RequestOutcome {
  readonly requestId: string;
  readonly clientAddress: string | undefined;
  readonly httpMethod: string | undefined;
  /** HTTP status sent; undefined under the stdio transport. */
  readonly status: number | undefined;
}

export interface ObserverOptions {
  /** The audit trail; without it requests are not audited. */
  readonly sink?: AuditSink | undefined;
  /** audit.on_write_failure. */
  readonly onWriteFailure?: 'refuse' | 'continue';
}

/**
 * Turns a finished request into its one audit record and its one metrics observation. The
 * sink never blocks: `record` queues the line and returns.
 */
export class RequestObserver {
  readonly sink: AuditSink | undefined;
  readonly onWriteFailure: 'refuse' | 'continue';

  constructor(options: ObserverOptions = {}) {
    this.sink = options.sink;
    this.onWriteFailure = options.onWriteFailure ?? 'refuse';
  }

  /** Throws 503 AuditUnavailable when the trail cannot be written and the config says refuse. */
  checkAuditWritable(): void {
    if (this.sink === undefined || this.onWriteFailure === 'continue' || this.sink.healthy) return;
    throw new RequestError(
      'AuditUnavailable',
      'the audit trail cannot be written; requests are refused until it can',
      { details: { retryAfter: '5' } },
    );
  }

  /** The audit part of readiness: not ready only while requests are being refused for it. */
  auditReadiness(): { ok: boolean; detail: string } {
    if (this.sink === undefined) return { ok: true, detail: 'not configured' };
    if (this.sink.healthy) return { ok: true, detail: 'writable' };
    return this.onWriteFailure === 'refuse'
      ? { ok: false, detail: 'cannot write; refusing requests' }
      : { ok: true, detail: 'cannot write; serving unaudited (on_write_failure: continue)' };
  }

  finish(facts: RequestFacts, outcome: RequestOutcome): void {
    if (facts.finished) return;
    facts.finished = true;
    const refused = facts.reason !== undefined;
    if (!refused && facts.kind !== 'mcp') {
      if (facts.kind === 'metadata') this.#observe(facts, outcome, 'allow');
      return;
    }
    const { event, decision } = classify(facts);
    if (facts.kind !== 'probe') this.#observe(facts, outcome, decision);
    this.sink?.record(new RequestAuditRecord(facts, outcome, event, decision));
  }

  #observe(facts: RequestFacts, outcome: RequestOutcome, decision: AuditDecision): void {
    if (!requestChannel.hasSubscribers) return;
    const totalSeconds = (performance.now() - facts.startedAt) / 1000;
    const upstreamSeconds = facts.upstreamMs / 1000;
    publish(requestChannel, {
      upstream: facts.upstream ?? '',
      method: methodLabel(facts, outcome.httpMethod ?? ''),
      decision,
      status: outcome.status ?? 0,
      overheadSeconds: Math.max(0, totalSeconds - upstreamSeconds),
      ...(facts.upstreamAttempted ? { upstreamSeconds } : {}),
    });
  }
}

/** Method, tool and (when the upstream enables it) arguments, for the audit record. */
export function noteMessage(facts: RequestFacts, route: McpRoute, message: JsonRpcMessage): void {
  if (message.kind === 'response') {
    facts.isResponse = true;
    return;
  }
  facts.method = clip(message.method);
  if (message.kind !== 'request' || message.method !== 'tools/call') return;
  const params = message.params;
  if (typeof params?.name === 'string') facts.tool = clip(params.name);
  if (route.upstream.audit_arguments && params?.arguments !== undefined) {
    facts.arguments = auditedArguments(params.arguments, route.upstream.redact_arguments);
  }
}

/** The policy decision, noting the scopes the message needs, whether or not the token has them. */
const NO_SCOPES: readonly string[] = Object.freeze([]);
/** One frozen one-scope list per scope: records of the same rule share it (and its JSON). */
const scopeLists = new Map<string, readonly string[]>();
function scopeList(scope: string): readonly string[] {
  let list = scopeLists.get(scope);
  if (list === undefined) {
    list = Object.freeze([scope]);
    // Scopes come from the configuration, but a refusal may name one a client sent: bounded.
    if (scopeLists.size < 1024) scopeLists.set(scope, list);
  }
  return list;
}

export function authorizeNoting(
  route: McpRoute,
  message: JsonRpcMessage,
  principal: Principal,
  facts: RequestFacts,
): Decision {
  try {
    const decision = route.policy.authorize(message, principal.scopes);
    const { requirement } = decision;
    facts.requiredScopes = requirement.type === 'scope' ? scopeList(requirement.scope) : NO_SCOPES;
    return decision;
  } catch (error) {
    const scope = error instanceof RequestError ? error.details.scope : undefined;
    if (scope !== undefined) facts.requiredScopes = scopeList(scope);
    throw error;
  }
}
