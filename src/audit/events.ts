/**
 * The closed catalogue of audit events, named `<noun>.<verb>`. docs/audit-events.md is generated
 * from this table and a test keeps the two in sync. The authorization server adds its own events
 * here when it lands.
 */
export const AUDIT_EVENTS = {
  'mcp.request.allowed':
    'A request passed authentication and authorization and was forwarded upstream.',
  'mcp.request.denied':
    'A valid token lacked the scope the request needs, or the method or tool is not allowed (403).',
  'auth.token.rejected':
    'No token, or a token that failed verification (401), or a malformed Authorization header (400).',
  'http.request.refused':
    'Refused before authentication: bad Origin or Host, oversized or malformed request, unknown route.',
  'ratelimit.exceeded':
    'Too many requests in the window for the address, session or subject (429).',
  'capacity.exceeded': 'Too many concurrent connections, sessions or child processes (503).',
  'upstream.failed':
    'The upstream could not be reached or started, or answered invalidly (502/503).',
  'audit.sink.recovered': 'The audit sink could write again after a failure; records the gap.',
} as const;

export type AuditEventName = keyof typeof AUDIT_EVENTS;

export type AuditDecision = 'allow' | 'deny' | 'error';

/**
 * The fields of one audit record (before the chain fields are added). Never a token: requests
 * are correlated by request id, session id and the HMAC of the token id.
 */
export interface AuditEvent {
  readonly event: AuditEventName;
  readonly request_id?: string | undefined;
  readonly session_id?: string | undefined;
  readonly subject?: string | undefined;
  readonly client_id?: string | undefined;
  /** HMAC-SHA256 of the token's `jti` (or of the token), never the token itself. */
  readonly token_id_hash?: string | undefined;
  readonly upstream?: string | undefined;
  /** JSON-RPC method, e.g. `tools/call`. */
  readonly method?: string | undefined;
  readonly tool?: string | undefined;
  readonly decision: AuditDecision;
  /** Error code from src/errors when the decision is not `allow`. */
  readonly reason?: string | undefined;
  readonly required_scopes?: readonly string[] | undefined;
  readonly granted_scopes?: readonly string[] | undefined;
  readonly status?: number | undefined;
  readonly latency_ms?: number | undefined;
  readonly client_address?: string | undefined;
  /** Tool arguments, only when the upstream enables it, after redaction. */
  readonly arguments?: unknown;
  /** For audit.sink.recovered: records refused while the sink could not write. */
  readonly dropped?: number | undefined;
}
