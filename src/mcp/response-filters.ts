import { isRecord, type JsonRpcMessage } from './json-rpc.ts';
import type { Decision, McpPolicy } from './policy.ts';
import { filterToolsListResponse } from './tools-list.ts';

/**
 * Answers the gateway rewrites on the way back: a tools/list result (only the tools the token may
 * call) and an initialize result (only the capabilities the policy lets through). Everything
 * else passes unchanged. A filter takes the upstream's parsed answer and returns the JSON text to
 * send to the client.
 */
export type ResponseFilter = (response: Readonly<Record<string, unknown>>) => string;

/** The filter for the answer to `message`, or undefined when the answer passes as is. */
export function responseFilterFor(
  message: JsonRpcMessage,
  decision: Decision,
  policy: McpPolicy,
  scopes: ReadonlySet<string>,
): ResponseFilter | undefined {
  if (message.kind !== 'request') return undefined;
  if (decision.filterToolsList)
    return (response) => filterToolsListResponse(response, policy, scopes);
  if (message.method === 'initialize')
    return (response) => filterInitializeResponse(response, policy);
  return undefined;
}

/**
 * Removes the server capabilities whose methods the policy refuses outright, so that clients do
 * not plan on them (MCP lifecycle: clients use only negotiated capabilities): `tasks` always (no
 * tasks/* method passes the gateway), and resources, prompts and completions when their
 * method_scopes entry is not set.
 */
export function filterInitializeResponse(
  response: Readonly<Record<string, unknown>>,
  policy: McpPolicy,
): string {
  const result = response.result;
  if (!isRecord(result) || !isRecord(result.capabilities)) return JSON.stringify(response);
  const capabilities: Record<string, unknown> = { ...result.capabilities };
  delete capabilities.tasks;
  if (policy.familyScope('resources') === undefined) delete capabilities.resources;
  if (policy.familyScope('prompts') === undefined) delete capabilities.prompts;
  if (policy.familyScope('completion') === undefined) delete capabilities.completions;
  return JSON.stringify({ ...response, result: { ...result, capabilities } });
}
