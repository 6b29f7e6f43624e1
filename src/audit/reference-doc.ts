import { AUDIT_EVENTS } from './events.ts';

/** docs/audit-events.md, generated from the catalogue (`npm run docs`; a test keeps it in sync). */
export function renderAuditEventsReference(): string {
  const out = [
    '# Audit events',
    '',
    '<!-- Generated from src/audit/events.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'The audit trail is JSONL: one record per line, one record per decision (one per request that',
    'reaches a decision, refusals included; successful health, readiness, metrics and metadata',
    'requests are not recorded). Records never hold a',
    'token: requests are correlated by `request_id`, `session_id` and `token_id_hash` (an HMAC of',
    'the token id with the deployment secret). Tool arguments appear only when the upstream sets',
    '`audit_arguments: true`, after `redact_arguments` and token redaction.',
    '',
    '## Events',
    '',
    '| event | when |',
    '| --- | --- |',
  ];
  for (const [name, summary] of Object.entries(AUDIT_EVENTS))
    out.push(`| \`${name}\` | ${summary} |`);
  out.push(
    '',
    '## Fields',
    '',
    '| field | meaning |',
    '| --- | --- |',
    '| `time` | ISO 8601 time the record was made. |',
    '| `event` | One of the events above. |',
    '| `request_id`, `session_id` | Correlation ids (`x-request-id`, `mcp-session-id`). |',
    '| `subject`, `client_id`, `token_id_hash` | Who: `sub`, `client_id`, HMAC-SHA256 of `jti` (or of the token). |',
    '| `sender_constraint` | `dpop` when the token was DPoP-bound and the request carried its proof (RFC 9449), `bearer` otherwise; absent without a token. On `oauth.token.issued`: whether the issued token is bound. |',
    '| `upstream`, `method`, `tool` | What: upstream name, JSON-RPC method, tool name. |',
    '| `resource`, `grant_type` | For `oauth.*` events: the resource (RFC 8707) and the token grant type. |',
    '| `decision`, `reason`, `status` | `allow`, `deny` or `error`; the error code (docs/errors.md); the HTTP status. |',
    '| `required_scopes`, `granted_scopes` | Scopes the request needed; scopes the token carried (within `allowed_scopes`). |',
    '| `latency_ms`, `client_address` | Milliseconds from arrival to the response head; the client address (after `trusted_proxies`). |',
    '| `http_method`, `path`, `trace_id` | The HTTP method; the normalized path (never the query); the W3C trace-id of a valid `traceparent`. |',
    '| `arguments` | `tools/call` arguments, when enabled for the upstream, redacted (over 16 KiB: only their size). |',
    '| `target` | For `admin.*` events: the client id, username, grant id or key id acted on (`subject` is the admin). |',
    '| `dropped` | For `audit.sink.recovered`: records refused while the sink could not write. |',
    '| `seq`, `prev`, `hash` | The hash chain: sequence number, hash of the previous record, SHA-256 of this line before `,"hash"`. |',
    '',
    '## Tamper evidence',
    '',
    'Each record carries the hash of the record before it and its own hash, and the chain runs on',
    'across rotated files (`audit.jsonl.1`, `audit.jsonl.2`, …, then `audit.jsonl`).',
    '`portcullis audit verify PATH` checks a file or the whole rotated set and names the first',
    'broken record: a changed byte, a deleted, inserted or reordered line. Truncating the newest',
    'records is not detectable from the file alone; ship the trail off the host to guard against it.',
  );
  return `${out.join('\n')}\n`;
}
