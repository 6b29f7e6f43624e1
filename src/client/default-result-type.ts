import type { FetchLike } from './auth-fetch.ts';

/** The first revision whose results carry `resultType`. */
const MODERN = '2026-07-28';

/**
 * MCP 2026-07-28 basic/patterns/mrtr: a result without `resultType` is a complete result, and a
 * client treats it so (never as a reason to retry). The SDK refuses such a result from a
 * 2026-07-28 server outright; this fetch, used only for the MCP endpoint, spells the default
 * out on single JSON responses to 2026-07-28 requests before the SDK reads them. Streams,
 * errors and 2025 exchanges pass untouched.
 */
export function withDefaultResultType(base: FetchLike): FetchLike {
  return async function defaultResultTypeFetch(input, init) {
    const response = await base(input, init);
    const version = new Headers(init?.headers).get('mcp-protocol-version');
    if (version === null || version < MODERN) return response;
    if (!(response.headers.get('content-type') ?? '').includes('application/json')) {
      return response;
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return rebuild(response, text);
    }
    const result = (body as { result?: unknown } | null)?.result;
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      return rebuild(response, text);
    }
    if ('resultType' in result) return rebuild(response, text);
    const completed = { ...(body as object), result: { ...result, resultType: 'complete' } };
    return rebuild(response, JSON.stringify(completed));
  };
}

function rebuild(response: Response, body: string): Response {
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}
