import { isRecord } from './json-rpc.ts';
import type { McpPolicy } from './policy.ts';

/** `_meta` key carrying the scope a visible tool needs, so clients can ask for it up front. */
export const SCOPE_META_KEY = 'portcullis/scope';

/**
 * Filters a tools/list response message (the parsed object an upstream sent) to the tools the
 * scopes allow, and marks each visible tool with its scope. Nothing the upstream sends widens
 * access: an unmapped tool is dropped, and a result that is not a tool list becomes an error.
 * Returns the JSON text to send to the client.
 */
export function filterToolsListResponse(
  response: Readonly<Record<string, unknown>>,
  policy: McpPolicy,
  scopes: ReadonlySet<string>,
): string {
  if (!Object.hasOwn(response, 'result')) return JSON.stringify(response);
  const result = response.result;
  if (!isRecord(result) || !Array.isArray(result.tools)) {
    return JSON.stringify({
      jsonrpc: '2.0',
      id: response.id ?? null,
      error: { code: -32603, message: 'the upstream answered tools/list with an invalid result' },
    });
  }
  const tools: Record<string, unknown>[] = [];
  for (const tool of result.tools) {
    if (!isRecord(tool) || typeof tool.name !== 'string') continue;
    const scope = policy.toolScope(tool.name);
    if (scope === undefined || !scopes.has(scope)) continue;
    const meta = isRecord(tool._meta) ? tool._meta : {};
    tools.push({ ...tool, _meta: { ...meta, [SCOPE_META_KEY]: scope } });
  }
  return JSON.stringify({ ...response, result: { ...result, tools } });
}
