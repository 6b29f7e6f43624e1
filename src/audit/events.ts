/**
 * The closed catalogue of audit events, named `<noun>.<verb>`. docs/audit-events.md is generated
 * from this table and a test keeps the two in sync. The `oauth.*` events come from the
 * co-located authorization server.
 */
export const AUDIT_EVENTS = {
  'mcp.request.allowed':
    'A request passed authentication and authorization and was forwarded upstream; status is what the client got.',
  'mcp.request.denied':
    'A valid token lacked the scope the request needs (AuthMissingScope), or the method or tool is not allowed (McpMethodDenied, McpToolDenied): 403.',
  'auth.token.rejected':
    'No token, a token that failed verification (401), a malformed Authorization header (400), or tokens could not be verified at all (AuthUnavailable, 503).',
  'http.request.refused':
    'Refused as malformed or not servable: bad Origin or Host, oversized, slow or malformed request or body, unknown route or session, unsupported method or media type, the gateway shutting down, or the audit sink unable to write (AuditUnavailable).',
  'ratelimit.exceeded':
    'Too many requests in the window for the address, session or subject (429).',
  'capacity.exceeded': 'Too many concurrent connections, sessions or child processes (503).',
  'upstream.failed':
    'The upstream could not be reached or started, or answered invalidly (502/503), after the request was allowed.',
  'audit.sink.recovered': 'The audit sink could write again after a failure; records the gap.',
  'oauth.login.succeeded':
    'A user signed in on the login page of the co-located authorization server.',
  'oauth.login.failed':
    'A sign-in failed: unknown user, wrong password or disabled user (not said which).',
  'oauth.login.throttled':
    'A sign-in was refused unchecked: too many failures for the user or the address in the window.',
  'oauth.authorization.granted':
    'An authorization code was issued to a client, after consent (given now or remembered).',
  'oauth.authorization.denied':
    'An authorization request ended in an error sent back to the client: the user denied it, or it was invalid.',
  'oauth.consent.revoked':
    "A user withdrew a client's remembered consent; every grant of that client for the user was revoked.",
  'oauth.token.issued':
    'The token endpoint issued tokens (authorization_code, refresh_token or client_credentials grant).',
  'oauth.token.refused': 'The token endpoint refused a request (the reason is the error code).',
  'oauth.code.replayed':
    'An authorization code was presented again; the tokens issued from it were revoked (RFC 6749 §4.1.2).',
  'oauth.refresh.reused':
    'A rotated refresh token was used again outside the grace rule; its whole family was revoked.',
  'oauth.token.revoked': 'A token was revoked at the revocation endpoint (RFC 7009).',
  'oauth.client.registered': 'A client registered dynamically (RFC 7591).',
  'oauth.client.refused':
    'A registration request or a client ID metadata document was refused (the reason is the error code).',
  'admin.client.disabled':
    'An admin disabled a registered client on the admin page; its grants were revoked (target: the client id).',
  'admin.client.enabled': 'An admin enabled a disabled client again (target: the client id).',
  'admin.client.deleted':
    'An admin deleted a registered client; its grants were revoked (target: the client id).',
  'admin.grant.revoked':
    'An admin revoked a grant and every token of its family (target: the grant id).',
  'admin.user.disabled':
    'An admin disabled a user; the user cannot sign in and their grants were revoked (target: the username).',
  'admin.user.enabled': 'An admin enabled a disabled user again (target: the username).',
  'admin.key.rotated': 'An admin rotated the signing key (target: the new key id).',
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
  /** `dpop` when the token was DPoP-bound and its proof checked (RFC 9449), else `bearer`. */
  readonly sender_constraint?: 'dpop' | 'bearer' | undefined;
  readonly upstream?: string | undefined;
  /** The resource (RFC 8707) a token or authorization is for. */
  readonly resource?: string | undefined;
  /** The OAuth grant type at the token endpoint. */
  readonly grant_type?: string | undefined;
  /** JSON-RPC method, e.g. `tools/call`. */
  readonly method?: string | undefined;
  readonly tool?: string | undefined;
  readonly decision: AuditDecision;
  /** Error code from src/errors when the decision is not `allow`. */
  readonly reason?: string | undefined;
  readonly required_scopes?: readonly string[] | undefined;
  readonly granted_scopes?: readonly string[] | undefined;
  /** HTTP status sent to the client (absent under the stdio transport). */
  readonly status?: number | undefined;
  /** Milliseconds from the request's arrival to the decision (the response head). */
  readonly latency_ms?: number | undefined;
  readonly client_address?: string | undefined;
  /** HTTP method of the request (POST, GET, DELETE…). */
  readonly http_method?: string | undefined;
  /** The normalized request path, once it passed normalization (never the query). */
  readonly path?: string | undefined;
  /** W3C trace-id from a valid `traceparent`, for correlation with the upstream's traces. */
  readonly trace_id?: string | undefined;
  /** Tool arguments, only when the upstream enables it, after redaction. */
  readonly arguments?: unknown;
  /** For admin.* events: what the action was taken on (a client id, username, grant or key id). */
  readonly target?: string | undefined;
  /** For audit.sink.recovered: records refused while the sink could not write. */
  readonly dropped?: number | undefined;
}
