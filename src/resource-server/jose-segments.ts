import { parseStrictJson } from '../lib/strict-json.ts';

/*
 * Strict decoding of JOSE segments (RFC 8725 §3.7, RFC 7515 §5.2): canonical base64url, UTF-8
 * that is actually valid, a JSON object, and no member name twice (the one strict JSON parser,
 * src/lib/strict-json.ts: JSON.parse alone keeps the last of duplicate names, so
 * `"sub":"alice","sub":"admin"` would silently become admin).
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

/** Decodes bytes as a strict JSON object; undefined when anything about it is off. */
export function parseStrictJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = parseStrictJson(utf8.decode(bytes));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}
