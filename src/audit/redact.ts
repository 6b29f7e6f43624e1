import { redactForLog } from '../lib/log.ts';

export const ARGUMENT_REDACTED = '[redacted]';

/**
 * Tool arguments as they may enter an audit record: values under any of the configured keys
 * (matched case-insensitively at any depth) are replaced, then every value goes through the log
 * redaction so tokens and secrets never land in the trail whatever the keys.
 */
export function redactArguments(value: unknown, keys: readonly string[]): unknown {
  const lowered = new Set(keys.map((key) => key.toLowerCase()));
  const visit = (node: unknown, depth: number): unknown => {
    if (depth > 16) return ARGUMENT_REDACTED;
    if (Array.isArray(node)) return node.map((item) => visit(item, depth + 1));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) {
        out[key] = lowered.has(key.toLowerCase()) ? ARGUMENT_REDACTED : visit(child, depth + 1);
      }
      return out;
    }
    return node;
  };
  return redactForLog(visit(value, 0));
}
