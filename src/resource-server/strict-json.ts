/*
 * Strict decoding of JOSE segments (RFC 8725 §3.7, RFC 7515 §5.2): canonical base64url, UTF-8
 * that is actually valid, a JSON object, and no member name twice. JSON.parse alone keeps the
 * last of duplicate names, so `"sub":"alice","sub":"admin"` would silently become admin.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes base64url without padding, refusing any spelling that is not the canonical one. */
export function decodeBase64urlStrict(segment: string): Buffer | undefined {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  // Unused trailing bits must be zero: otherwise several strings decode to the same bytes.
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

/**
 * For a segment already known to use only the base64url alphabet: true when its unused trailing
 * bits are zero, i.e. it is the one canonical spelling of its bytes (O(1), no decoding).
 */
export function isCanonicalBase64url(segment: string): boolean {
  const rest = segment.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = segment.charCodeAt(segment.length - 1);
  const value =
    last >= 0x61
      ? last - 0x61 + 26
      : last >= 0x41
        ? last - 0x41
        : last >= 0x30
          ? last - 0x30 + 52
          : last === 0x2d
            ? 62
            : 63;
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0;
}

function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** End index (the closing quote) of the string starting at `start`, and whether it has escapes. */
function scanString(text: string, start: number): { end: number; escaped: boolean } {
  let end = start + 1;
  let escaped = false;
  while (end < text.length) {
    const code = text.charCodeAt(end);
    if (code === 0x22) break;
    if (code === 0x5c) {
      escaped = true;
      end += 2;
    } else end++;
  }
  return { end, escaped };
}

/** In valid JSON, a string inside an object followed by ':' is a member name. */
function followedByColon(text: string, end: number): boolean {
  let next = end + 1;
  while (next < text.length && isJsonSpace(text.charCodeAt(next))) next++;
  return text.charCodeAt(next) === 0x3a;
}

/** True when some object in the (already syntactically valid) JSON text repeats a member name. */
export function hasDuplicateMembers(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let index = 0;
  while (index < text.length) {
    const code = text.charCodeAt(index);
    if (code === 0x22) {
      const { end, escaped } = scanString(text, index);
      const members = stack[stack.length - 1];
      if (members && followedByColon(text, end)) {
        const raw = text.slice(index, end + 1);
        const name = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (members.has(name)) return true;
        members.add(name);
      }
      index = end + 1;
      continue;
    }
    if (code === 0x7b) stack.push(new Set());
    else if (code === 0x5b) stack.push(null);
    else if (code === 0x7d || code === 0x5d) stack.pop();
    index++;
  }
  return false;
}

/** Decodes bytes as a strict JSON object; undefined when anything about it is off. */
export function parseStrictJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (hasDuplicateMembers(text)) return undefined;
  return value as Record<string, unknown>;
}
