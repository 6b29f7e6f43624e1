/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): a client's `traceparent` goes on to
 * HTTP upstreams so their traces join the client's, but only in the exact version-00 form
 * (§3.2.2); anything else is dropped, not repaired. `tracestate` goes along only with a valid
 * `traceparent`, and only when it is well-formed itself (§3.3).
 */

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ALL_ZERO = /^0+$/;
/** §3.3.1.3: key = simple-key / multi-tenant-key; value = printable ASCII without , and =. */
const TRACESTATE_MEMBER =
  /^[a-z0-9][a-z0-9_*/-]{0,240}(?:@[a-z][a-z0-9_*/-]{0,13})?=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_TRACESTATE_MEMBERS = 32;
const MAX_TRACESTATE_LENGTH = 512;

export interface TraceContext {
  /** The header to forward, exactly as received. */
  readonly traceparent: string;
  readonly traceId: string;
  /** A well-formed `tracestate` to forward with it, if any. */
  readonly tracestate: string | undefined;
}

/** The trace context of a request, or undefined when it has none or a malformed one. */
export function traceContextOf(
  headers: Readonly<Record<string, string | undefined>>,
): TraceContext | undefined {
  const traceparent = headers.traceparent;
  if (traceparent === undefined) return undefined;
  const match = TRACEPARENT.exec(traceparent);
  const traceId = match?.[1];
  const parentId = match?.[2];
  // §3.2.2.3 and §3.2.2.4: all-zero ids are invalid.
  if (traceId === undefined || parentId === undefined) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(parentId)) return undefined;
  return { traceparent, traceId, tracestate: validTracestate(headers.tracestate) };
}

function validTracestate(value: string | undefined): string | undefined {
  if (value === undefined || value.length > MAX_TRACESTATE_LENGTH) return undefined;
  const members = value
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  return members.every((member) => TRACESTATE_MEMBER.test(member)) ? members.join(',') : undefined;
}
