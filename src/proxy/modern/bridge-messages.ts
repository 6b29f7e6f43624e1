import { errorResponse, isRecord, type JsonRpcId } from '../../mcp/index.ts';
import type { ModernRequest } from '../../mcp/modern/inbound.ts';
import { META, MODERN_ERRORS } from '../../mcp/modern/protocol.ts';
import { encodeSseEvent } from '../sse.ts';

/** Messages between the two eras, as the modern-client bridge rewrites them. */

/** Server-to-client requests that become input requests (mrtr "Core Types"), by capability. */
export const INPUT_METHODS: Readonly<Record<string, string>> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

export function event(text: string): string {
  return encodeSseEvent({ event: 'message', data: text });
}

export function messageKind(message: Readonly<Record<string, unknown>>) {
  if (typeof message.method === 'string') {
    return Object.hasOwn(message, 'id') ? 'request' : 'notification';
  }
  return 'response';
}

/** Progress for this request's token, and log messages (the only session-wide kind relayed). */
export function relatesTo(
  message: Readonly<Record<string, unknown>>,
  request: ModernRequest,
): boolean {
  if (message.method === 'notifications/message') return true;
  if (message.method !== 'notifications/progress') return false;
  const meta = isRecord(request.params._meta) ? request.params._meta : {};
  const token = isRecord(message.params) ? message.params.progressToken : undefined;
  return token !== undefined && token === meta.progressToken;
}

/** The 2025 params of a modern request: the per-request envelope and retry fields removed. */
export function legacyParams(params: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { _meta, inputResponses: _responses, requestState: _state, ...rest } = params;
  if (!isRecord(_meta)) return rest;
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(_meta)) {
    if (!Object.values(META).includes(key as (typeof META)[keyof typeof META])) meta[key] = value;
  }
  return Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta };
}

/** A 2025 server request's params in their 2026-07-28 input-request shape. */
export function modernInputParams(method: string, params: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isRecord(params) ? { ...params } : {};
  if (method === 'elicitation/create') {
    // 2026-07-28 names the mode always; URL mode correlates through requestState instead.
    if (out.mode === undefined) out.mode = 'form';
    delete out.elicitationId;
  }
  delete out._meta;
  return out;
}

/** MissingRequiredClientCapability (-32021) naming the capability the request needs. */
export function missingCapability(id: JsonRpcId, capability: string): string {
  return errorResponse(
    id,
    MODERN_ERRORS.missingClientCapability,
    `Missing required client capabilities: ${capability}`,
    { requiredCapabilities: { [capability]: {} } },
  );
}
