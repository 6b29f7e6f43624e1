import { REQUEST_ERRORS, type RequestError, renderRequestError } from '../../errors/index.ts';
import type { JsonRpcId } from '../json-rpc.ts';
import { MODERN_ERRORS } from './protocol.ts';

/**
 * The gateway's refusals on the 2026-07-28 path, as JSON-RPC error responses: a modern client
 * reads every answer to its POST as a JSON-RPC message (the revision's schema says so), so the
 * catalogue's status, headers (challenge, Retry-After, Allow) and code are kept, and the body is
 * a JSON-RPC error whose `data` carries the catalogue's `error` and `code`.
 */

/** JSON-RPC code of a gateway refusal: outside the ranges JSON-RPC and MCP reserve. */
export const GATEWAY_REFUSED = -31000;

export interface RenderedRefusal {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function renderRefusal(
  error: RequestError,
  id: JsonRpcId | null,
  extraHeaders: Record<string, string> = {},
): RenderedRefusal {
  const rendered = renderRequestError(error, extraHeaders);
  const entry = REQUEST_ERRORS[error.code];
  const message = error.expose ? error.message : entry.summary;
  const code = error.status >= 500 ? -32603 : GATEWAY_REFUSED;
  const data = { error: entry.oauth ?? snakeCase(error.code), code: error.code };
  return {
    status: rendered.status,
    headers: rendered.headers,
    body: JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, data } }),
  };
}

/**
 * The requests a 2026-07-28 client may send (schema of the revision): anything else is a method
 * the revision does not define, answered 404 / -32601 (streamable-http "Protocol Version
 * Header": an unimplemented method is 404 Method not found) without reaching the upstream.
 */
const MODERN_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'tasks/get',
  'tasks/update',
  'tasks/cancel',
]);

export function isModernMethod(method: string): boolean {
  return MODERN_METHODS.has(method);
}

export function methodNotFound(id: JsonRpcId | null, method: string): RenderedRefusal {
  return {
    status: 404,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      error: { code: MODERN_ERRORS.methodNotFound, message: `Method not found: ${method}` },
    }),
  };
}

function snakeCase(code: string): string {
  return code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
