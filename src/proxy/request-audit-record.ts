import {
  type AuditDecision,
  type AuditEventName,
  memberPrefix,
  type PreparedAuditRecord,
  serializedAuditValue,
} from '../audit/index.ts';
import type { Principal } from './auth-stage.ts';
import type { RequestFacts, RequestOutcome } from './request-facts.ts';

/** A principal's scopes, sorted for the record: computed once per principal, then shared. */
const sortedScopes = new WeakMap<Principal, readonly string[]>();
function grantedScopes(principal: Principal): readonly string[] {
  let scopes = sortedScopes.get(principal);
  if (scopes === undefined) {
    scopes = Object.freeze([...principal.scopes].sort());
    sortedScopes.set(principal, scopes);
  }
  return scopes;
}

/**
 * One request's audit record, serialized by the audit writer when it chains the batch (off the
 * request's turn) from the facts and pre-serialized parts: the caller's identity and granted
 * scopes once per principal, the upstream's name once per route. The members come in the order
 * of AuditEvent's fields, absent ones left out, as the sink writes any other record.
 */
export class RequestAuditRecord implements PreparedAuditRecord {
  // The facts as they were when the answer was decided, copied (not serialized) here.
  readonly #event: AuditEventName;
  readonly #decision: AuditDecision;
  readonly #principal: Principal | undefined;
  readonly #requestId: string;
  readonly #sessionId: string | undefined;
  readonly #upstream: string | undefined;
  readonly #method: string | undefined;
  readonly #tool: string | undefined;
  readonly #reason: string | undefined;
  readonly #requiredScopes: readonly string[] | undefined;
  readonly #status: number | undefined;
  readonly #latencyMs: number;
  readonly #clientAddress: string | undefined;
  readonly #httpMethod: string | undefined;
  readonly #path: string | undefined;
  readonly #traceId: string | undefined;
  readonly #arguments: unknown;

  constructor(
    facts: RequestFacts,
    outcome: RequestOutcome,
    event: AuditEventName,
    decision: AuditDecision,
  ) {
    this.#event = event;
    this.#decision = decision;
    this.#principal = facts.principal;
    this.#requestId = outcome.requestId;
    this.#sessionId = facts.sessionId;
    this.#upstream = facts.upstream;
    this.#method = facts.method;
    this.#tool = facts.tool;
    this.#reason = facts.reason;
    this.#requiredScopes = facts.requiredScopes;
    this.#status = outcome.status;
    this.#latencyMs = Math.round((performance.now() - facts.startedAt) * 1000) / 1000;
    this.#clientAddress = outcome.clientAddress;
    this.#httpMethod = outcome.httpMethod;
    this.#path = facts.path;
    this.#traceId = facts.traceId;
    this.#arguments = facts.arguments;
  }

  members(): string {
    const parts = this.#principal === undefined ? undefined : principalParts(this.#principal);
    let members = `,"event":"${this.#event}"${member('request_id', this.#requestId)}`;
    members += member('session_id', this.#sessionId);
    if (parts !== undefined) members += parts.identity;
    if (this.#upstream !== undefined) members += upstreamMember(this.#upstream);
    members += member('method', this.#method);
    members += member('tool', this.#tool);
    members += `,"decision":"${this.#decision}"`;
    members += member('reason', this.#reason);
    members += member('required_scopes', this.#requiredScopes);
    if (parts !== undefined) members += parts.granted;
    if (this.#status !== undefined) members += `,"status":${this.#status}`;
    members += `,"latency_ms":${this.#latencyMs}`;
    members += member('client_address', this.#clientAddress);
    members += member('http_method', this.#httpMethod);
    members += member('path', this.#path);
    members += member('trace_id', this.#traceId);
    members += member('arguments', this.#arguments);
    return members;
  }
}

/** `,"name":value`, or nothing for a value that is absent (or has no JSON form). */
function member(name: string, value: unknown): string {
  if (value === undefined) return '';
  const text = serializedAuditValue(value);
  return text === undefined ? '' : `${memberPrefix(name)}${text}`;
}

/** A principal's identity members (subject … sender_constraint) and its granted scopes. */
interface PrincipalParts {
  readonly identity: string;
  readonly granted: string;
}

/** Serialized once per principal: a cached token's principal is one object (auth-stage.ts). */
const principalMembers = new WeakMap<Principal, PrincipalParts>();
function principalParts(principal: Principal): PrincipalParts {
  let parts = principalMembers.get(principal);
  if (parts === undefined) {
    parts = {
      identity:
        member('subject', principal.subject) +
        member('client_id', principal.clientId) +
        member('token_id_hash', principal.tokenIdHash) +
        member(
          'sender_constraint',
          principal.tokenIdHash === undefined
            ? undefined
            : principal.senderConstrained
              ? 'dpop'
              : 'bearer',
        ),
      granted: member('granted_scopes', grantedScopes(principal)),
    };
    principalMembers.set(principal, parts);
  }
  return parts;
}

/** `,"upstream":…` per upstream name (route names come from the configuration: few). */
const upstreamMembers = new Map<string, string>();
function upstreamMember(upstream: string): string {
  let text = upstreamMembers.get(upstream);
  if (text === undefined) {
    text = member('upstream', upstream);
    if (upstreamMembers.size < 1024) upstreamMembers.set(upstream, text);
  }
  return text;
}
