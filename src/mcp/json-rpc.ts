import { RequestError } from '../errors/index.ts';
import { parseStrictJson, StrictJsonError } from '../lib/strict-json.ts';

/**
 * JSON-RPC 2.0 framing for MCP. A body is decoded and parsed once; every later decision reads
 * the object returned here, and what is forwarded is the text that was parsed.
 */

/** JSON-RPC ids the gateway accepts: strings and safe integers (MCP: never null). */
export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  readonly kind: 'request';
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>> | undefined;
}

export interface JsonRpcNotification {
  readonly kind: 'notification';
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>> | undefined;
}

export interface JsonRpcResponse {
  readonly kind: 'response';
  readonly id: JsonRpcId | null;
  readonly result: unknown;
  readonly error: unknown;
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** A message and the exact text it was parsed from. */
export interface ParsedMessage {
  readonly message: JsonRpcMessage;
  /** The decoded body; the bytes forwarded upstream are this text. */
  readonly text: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Nesting allowed in a message (SCOPE-10 in docs/security-cases.md: a recursive walk must never
 * overflow the stack).
 */
export const MAX_JSON_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes (strict UTF-8, no BOM) and parses a client's JSON-RPC message. Batches are refused:
 * MCP 2025-06-18 removed JSON-RPC batching from the Streamable HTTP transport, and one message
 * per request keeps one authorization decision per forwarded body.
 */
export function parseClientMessage(body: Uint8Array): ParsedMessage {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw malformed('the body is not valid UTF-8');
  }
  return parseMessageText(text);
}

export function parseMessageText(text: string): ParsedMessage {
  if (text.trim() === '') throw malformed('the body is empty');
  let value: unknown;
  try {
    value = parseStrictJson(text, { maxDepth: MAX_JSON_DEPTH });
  } catch (error) {
    if (error instanceof StrictJsonError) throw malformed(error.message);
    throw error;
  }
  if (Array.isArray(value)) {
    throw malformed('JSON-RPC batches are not accepted; send one message per request');
  }
  if (!isRecord(value)) throw malformed('the body must be a JSON-RPC message object');
  return { message: classify(value), text, raw: value };
}

function classify(value: Readonly<Record<string, unknown>>): JsonRpcMessage {
  if (value.jsonrpc !== '2.0') throw malformed('jsonrpc must be "2.0"');
  const has = (key: string) => Object.hasOwn(value, key);
  if (has('method')) {
    if (typeof value.method !== 'string' || value.method === '') {
      throw malformed('method must be a non-empty string');
    }
    if (has('result') || has('error')) throw malformed('a request cannot carry result or error');
    const params = value.params;
    if (params !== undefined && !isRecord(params)) {
      throw malformed('params must be an object (MCP uses named parameters)');
    }
    if (!has('id')) return { kind: 'notification', method: value.method, params };
    return { kind: 'request', id: checkId(value.id), method: value.method, params };
  }
  if (has('id') && has('result') !== has('error')) {
    const id = value.id === null && has('error') ? null : checkId(value.id);
    return { kind: 'response', id, result: value.result, error: value.error };
  }
  throw malformed('not a JSON-RPC request, notification or response');
}

/**
 * Ids must survive every JSON parser unchanged so that responses correlate: strings, or integers
 * within ±(2^53 − 1) (SCOPE-11 in docs/security-cases.md: `1e400` or `2^53 + 1` would be read
 * differently upstream).
 */
function checkId(id: unknown): JsonRpcId {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  throw malformed('id must be a string or an integer between -(2^53-1) and 2^53-1');
}

/** A map key for an id: 1 and "1" are different ids. */
export function idKey(id: JsonRpcId | null): string {
  return typeof id === 'number' ? `n:${id}` : id === null ? 'null' : `s:${id}`;
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function malformed(message: string): RequestError {
  return new RequestError('RequestMalformed', message);
}

/** JSON-RPC 2.0 §5.1 error codes used by the gateway when it answers for the upstream. */
export const JSON_RPC_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Implementation-defined server error range (§5.1): the upstream went away. */
  upstreamGone: -32000,
} as const;

export function errorResponse(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: Record<string, unknown>,
): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    error: data === undefined ? { code, message } : { code, message, data },
  });
}
