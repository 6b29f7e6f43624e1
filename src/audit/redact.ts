import { isSecretKeyName, redactForLog } from '../lib/log.ts';

export const ARGUMENT_REDACTED = '[redacted]';

/** Deeper than this, whole subtrees are replaced: the trail never carries unbounded nesting. */
const MAX_DEPTH = 16;

/**
 * Tool arguments as they may enter an audit record: values under any of the configured keys
 * (matched case-insensitively at any depth) are replaced, so are values under credential-like
 * keys (the log's list: password, token, *_secret…), and every string goes through the log's
 * token redaction, so tokens and secrets never land in the trail whatever the keys or the depth.
 */
export function redactArguments(value: unknown, keys: readonly string[]): unknown {
  const lowered = new Set(keys.map((key) => key.toLowerCase()));
  const visit = (node: unknown, depth: number): unknown => {
    if (typeof node === 'string') return redactForLog(node);
    if (depth > MAX_DEPTH) return ARGUMENT_REDACTED;
    if (Array.isArray(node)) return node.map((item) => visit(item, depth + 1));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) {
        out[key] =
          lowered.has(key.toLowerCase()) || isSecretKeyName(key)
            ? ARGUMENT_REDACTED
            : visit(child, depth + 1);
      }
      return out;
    }
    return node;
  };
  return visit(value, 0);
}
