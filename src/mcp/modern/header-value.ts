/**
 * The `=?base64?…?=` form of `Mcp-Name` and `Mcp-Param-*` values (basic/transports/
 * streamable-http "Value Encoding"): values that are not plain printable ASCII, that have
 * leading or trailing whitespace, or that look like the sentinel themselves travel as Base64 of
 * their UTF-8 bytes. The markers are case-sensitive.
 */

const PREFIX = '=?base64?';
const SUFFIX = '?=';
/** Canonical padded Base64 (RFC 4648 §4); anything else is refused, not repaired. */
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** RFC 9110 §5.5 field-value characters: visible ASCII, space, tab. */
const FIELD_VALUE = /^[\x20-\x7E\t]*$/;
/** What can travel as is: visible ASCII and inner spaces, no edge whitespace. */
const PLAIN = /^(?:[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?)?$/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The value a header carries: decoded when it uses the sentinel, as is otherwise. Undefined when
 * the value is malformed (bad Base64, bad UTF-8, or characters a field value cannot hold) — the
 * specification requires rejecting those ("Server Behavior for Custom Headers").
 */
export function decodeHeaderValue(raw: string): string | undefined {
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!FIELD_VALUE.test(value)) return undefined;
  if (!(value.startsWith(PREFIX) && value.endsWith(SUFFIX) && value.length >= 11)) return value;
  const payload = value.slice(PREFIX.length, value.length - SUFFIX.length);
  if (!CANONICAL_BASE64.test(payload)) return undefined;
  try {
    return utf8.decode(Buffer.from(payload, 'base64'));
  } catch {
    return undefined;
  }
}

/** The header form of a value (what the gateway sends when it builds a modern request). */
export function encodeHeaderValue(value: string): string {
  const looksLikeSentinel = value.startsWith(PREFIX) && value.endsWith(SUFFIX);
  if (PLAIN.test(value) && !looksLikeSentinel) return value;
  return `${PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${SUFFIX}`;
}
