import { isRecord } from '../json-rpc.ts';
import { encodeHeaderValue } from './header-value.ts';
import { HEADERS } from './protocol.ts';

/**
 * `Mcp-Param-{Name}` headers a 2026-07-28 client mirrors from tool arguments that the tool's
 * input schema marks with `x-mcp-header` (basic/transports/streamable-http "Custom Headers from
 * Tool Parameters"). The gateway learns the declarations from the tools/list results it relays
 * and mirrors them when it turns a 2025 client's tools/call into a modern request.
 */

interface Declaration {
  readonly path: readonly string[];
  readonly header: string;
}

export class ParamHeaderMirror {
  readonly #declared = new Map<string, readonly Declaration[]>();

  /** Remembers the declarations of every tool in a tools/list result. */
  learn(result: Readonly<Record<string, unknown>>): void {
    if (!Array.isArray(result.tools)) return;
    for (const tool of result.tools) {
      if (!isRecord(tool) || typeof tool.name !== 'string') continue;
      const found: Declaration[] = [];
      collect(tool.inputSchema, [], found, 0);
      if (found.length > 0) this.#declared.set(tool.name, found);
      else this.#declared.delete(tool.name);
    }
  }

  /** The headers for a tools/call's params; values converted and encoded as the spec says. */
  headersFor(params: Readonly<Record<string, unknown>>): Record<string, string> {
    const name = params.name;
    const declared = typeof name === 'string' ? this.#declared.get(name) : undefined;
    if (declared === undefined) return {};
    const headers: Record<string, string> = {};
    for (const { path, header } of declared) {
      let value: unknown = params.arguments;
      for (const key of path) value = isRecord(value) ? value[key] : undefined;
      const text = primitiveText(value);
      if (text !== undefined) {
        headers[`${HEADERS.paramPrefix}${header.toLowerCase()}`] = encodeHeaderValue(text);
      }
    }
    return headers;
  }
}

/** "Value Encoding": strings as is, safe integers in decimal, booleans lower-case; else none. */
function primitiveText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Annotations reachable through `properties` chains only ("Schema Extension"). */
function collect(schema: unknown, path: string[], found: Declaration[], depth: number): void {
  if (!isRecord(schema) || depth > 16) return;
  const header = schema['x-mcp-header'];
  if (typeof header === 'string' && path.length > 0) found.push({ path, header });
  if (!isRecord(schema.properties)) return;
  for (const [key, child] of Object.entries(schema.properties)) {
    collect(child, [...path, key], found, depth + 1);
  }
}
