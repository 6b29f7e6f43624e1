/**
 * Pieces of an audit line, serialized once where they repeat: field prefixes, and the frozen
 * objects every record of the same caller or route shares.
 */

/** `,"name":` for each field name, serialized once. */
const prefixes = new Map<string, string>();
export function memberPrefix(key: string): string {
  let prefix = prefixes.get(key);
  if (prefix === undefined) {
    prefix = `,${JSON.stringify(key)}:`;
    prefixes.set(key, prefix);
  }
  return prefix;
}

/**
 * Object values (a principal's granted scopes, a route's required scopes) are shared by every
 * record of the same caller or route and never change: serialized once, then reused.
 */
const serializedObjects = new WeakMap<object, string>();
export function serialized(value: unknown): string {
  if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) {
    return JSON.stringify(value);
  }
  let text = serializedObjects.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    serializedObjects.set(value, text);
  }
  return text;
}
