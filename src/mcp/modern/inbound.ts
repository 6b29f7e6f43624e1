import {
  classifyInboundRequest,
  type InboundClassificationOutcome,
  type InboundModernRoute,
} from '@modelcontextprotocol/server';
import { isRecord, type JsonRpcId } from '../json-rpc.ts';
import { decodeHeaderValue } from './header-value.ts';
import {
  HEADERS,
  isModernVersion,
  META,
  MODERN_ERRORS,
  NAME_SOURCE,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './protocol.ts';

/**
 * Which protocol era an inbound request belongs to, and whether its headers and body agree
 * (basic/transports/streamable-http "Request Metadata", "Server Validation"; basic/versioning).
 *
 * Era classification is the SDK's own (`classifyInboundRequest` of @modelcontextprotocol/server):
 * body-primary, the `MCP-Protocol-Version` header a cross-check, a present envelope claim
 * validated rather than ignored. On top of it the gateway adds what the SDK leaves to the HTTP
 * entry: the supported-revision gate (-32022), the presence of the standard headers, and the
 * decoded `Mcp-Name` compared with the body (-32020). Authorization later reads the body this
 * function returned; a header is only ever used after it has been checked against that body.
 */

export type RequestHeaderValues = Readonly<Record<string, string | undefined>>;

export interface InboundRequest {
  readonly httpMethod: string;
  /** Lower-cased header names, one value each (the HTTP front refuses repeats of ours). */
  readonly headers: RequestHeaderValues;
  /** The parsed JSON body (undefined for GET/DELETE). */
  readonly body?: unknown;
}

/** A validated 2026-07-28 request. */
export interface ModernRequest {
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly protocolVersion: string;
  /** The decoded `Mcp-Name` (equal to the body's name or uri) for the methods that carry one. */
  readonly name: string | undefined;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly clientInfo: Readonly<Record<string, unknown>> | undefined;
  /** `Mcp-Param-*` headers as received: forwarded, never interpreted (streamable-http). */
  readonly paramHeaders: Readonly<Record<string, string>>;
}

/** An answer the gateway gives itself, before authorization. */
export interface ModernRejection {
  readonly kind: 'reject';
  readonly status: number;
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
  /** The request id when the body had one (the JSON-RPC error echoes it). */
  readonly id: JsonRpcId | null;
}

export type InboundOutcome =
  /** 2025-era traffic: sessions, GET streams, DELETE — served as before. */
  | { readonly kind: 'legacy' }
  | { readonly kind: 'modern'; readonly request: ModernRequest }
  /** A 2026-07-28 notification POST: accepted with 202 (streamable-http "Sending Messages"). */
  | { readonly kind: 'modern-notification'; readonly method: string }
  | ModernRejection;

const LEGACY: InboundOutcome = Object.freeze({ kind: 'legacy' });

/**
 * Whether a request's headers alone place it in the stateless era: its `MCP-Protocol-Version`
 * names 2026-07-28 or a later (or unknown) revision. Readable before the body, so the HTTP entry
 * can tell the session handling of 2025 traffic apart from requests that carry no session
 * (streamable-http "Protocol Version Header": a 2026-07-28 client sends it on every POST). The
 * header is a cross-check only: `classifyInbound` decides the era on the body, and a body
 * claiming the per-request envelope is never legacy, whatever the headers say.
 */
export function headersNameStatelessEra(headers: RequestHeaderValues): boolean {
  const rawVersion = headers[HEADERS.protocolVersion];
  return rawVersion !== undefined && isModernVersion(rawVersion.trim());
}

export function classifyInbound(request: InboundRequest): InboundOutcome {
  const { headers } = request;
  // 2025 traffic in one look (the hot path of every session request): no per-request envelope
  // claim in the body and no stateless-era revision in the header is legacy by the SDK's own
  // rule, and the gateway's parser has already refused what is not a JSON-RPC message.
  if (
    request.httpMethod === 'POST' &&
    !claimsEnvelope(request.body) &&
    !headersNameStatelessEra(headers)
  ) {
    return LEGACY;
  }
  const versionHeader = trimmed(headers[HEADERS.protocolVersion]);
  const methodHeader = trimmed(headers[HEADERS.method]);
  const nameHeader = trimmed(headers[HEADERS.name]);
  const id = idOf(request.body);
  const routed = sdkRoute(request.httpMethod, request.body, versionHeader, methodHeader);
  if (routed.kind !== 'modern') {
    // A header naming a stateless-era revision nobody speaks is answered with the list of those
    // we do (streamable-http "Protocol Version Header"), before what it implies about the body.
    if (versionHeader !== undefined && isModernVersion(versionHeader)) {
      const unsupported = unsupportedVersion(versionHeader, id);
      if (unsupported !== undefined) return unsupported;
    }
    if (routed.kind === 'legacy') return LEGACY;
    return reject(routed.httpStatus, routed.code, routed.message, id, routed.data);
  }
  return validateModern(routed, request.body as JsonRpcBody, {
    headers,
    versionHeader,
    methodHeader,
    nameHeader,
    id,
  });
}

/** The fields of a request body the modern half reads (the parser has checked their types). */
interface JsonRpcBody {
  readonly id?: JsonRpcId;
  readonly method: string;
  readonly params?: unknown;
}

/**
 * The SDK's classification of what decides the era — the JSON-RPC frame, the method, the
 * reserved `_meta` keys and the two headers — remembered for a while: a client sends the same
 * envelope on every request, and validating it (zod) is most of the cost of a modern request.
 * The rest of the body (arguments, progress tokens) never changes the classification.
 */
const ROUTES = new Map<string, InboundClassificationOutcome>();
const MAX_ROUTES = 512;
const MAX_KEY_LENGTH = 2048;
const RESERVED_META: readonly string[] = Object.values(META);

function sdkRoute(
  httpMethod: string,
  body: unknown,
  versionHeader: string | undefined,
  methodHeader: string | undefined,
): InboundClassificationOutcome {
  const headers: { protocolVersionHeader?: string; mcpMethodHeader?: string } = {};
  if (versionHeader !== undefined) headers.protocolVersionHeader = versionHeader;
  if (methodHeader !== undefined) headers.mcpMethodHeader = methodHeader;
  if (!isRecord(body) || typeof body.method !== 'string' || httpMethod !== 'POST') {
    return classifyInboundRequest({ httpMethod, body, ...headers });
  }
  const params = isRecord(body.params) ? body.params : {};
  const meta = isRecord(params._meta) ? params._meta : undefined;
  const reserved: Record<string, unknown> = {};
  for (const key of RESERVED_META) {
    if (meta !== undefined && Object.hasOwn(meta, key)) reserved[key] = meta[key];
  }
  const hasId = Object.hasOwn(body, 'id');
  const envelope = meta === undefined ? {} : { _meta: reserved };
  const key = JSON.stringify([
    versionHeader,
    methodHeader,
    hasId,
    body.jsonrpc,
    body.method,
    envelope,
  ]);
  const known = ROUTES.get(key);
  if (known !== undefined) return known;
  const frame = {
    jsonrpc: body.jsonrpc,
    ...(hasId ? { id: body.id } : {}),
    method: body.method,
    params: envelope,
  };
  const routed = classifyInboundRequest({ httpMethod, body: frame, ...headers });
  // Only ordinary envelopes are remembered: a client cannot fill memory with large ones.
  if (key.length > MAX_KEY_LENGTH) return routed;
  if (ROUTES.size >= MAX_ROUTES) {
    const oldest = ROUTES.keys().next();
    if (!oldest.done) ROUTES.delete(oldest.value);
  }
  ROUTES.set(key, routed);
  return routed;
}

interface HeaderFacts {
  readonly headers: RequestHeaderValues;
  readonly versionHeader: string | undefined;
  readonly methodHeader: string | undefined;
  readonly nameHeader: string | undefined;
  readonly id: JsonRpcId | null;
}

/** The modern half: supported revision, then the standard headers against the body. */
function validateModern(
  routed: InboundModernRoute,
  message: JsonRpcBody,
  { headers, versionHeader, methodHeader, nameHeader, id }: HeaderFacts,
): InboundOutcome {
  const claimed = routed.classification.revision ?? versionHeader;
  if (claimed === undefined || !isModernVersion(claimed)) {
    // A per-request envelope naming a 2025 revision: that era negotiates with initialize.
    return reject(400, MODERN_ERRORS.unsupportedProtocolVersion, unsupportedText(claimed), id, {
      supported: SUPPORTED_PROTOCOL_VERSIONS,
      ...(claimed === undefined ? {} : { requested: claimed }),
    });
  }
  const unsupported = unsupportedVersion(claimed, id);
  if (unsupported !== undefined) return unsupported;
  if (routed.messageKind === 'notification') {
    return { kind: 'modern-notification', method: message.method };
  }
  const params = isRecord(message.params) ? message.params : {};
  // Presence of the standard headers, in the order the specification names them.
  if (versionHeader === undefined) {
    return mismatch(`the required MCP-Protocol-Version header is absent`, id);
  }
  if (methodHeader === undefined) {
    return mismatch(`the body names method ${message.method} but Mcp-Method is absent`, id);
  }
  const name = checkName(message.method, params, nameHeader, id);
  if (name !== undefined && typeof name === 'object') return name;
  const meta = isRecord(params._meta) ? params._meta : {};
  const capabilities = meta[META.clientCapabilities];
  const clientInfo = meta[META.clientInfo];
  return {
    kind: 'modern',
    request: {
      // A request (the SDK's classification said so) always has its id.
      id: message.id as JsonRpcId,
      method: message.method,
      params,
      protocolVersion: claimed,
      name,
      clientCapabilities: isRecord(capabilities) ? capabilities : {},
      clientInfo: isRecord(clientInfo) ? clientInfo : undefined,
      paramHeaders: paramHeadersOf(headers),
    },
  };
}

/**
 * GET and DELETE belong to 2025 sessions; without one, the stateless era answers 405
 * (streamable-http "Earlier Streamable HTTP Revisions").
 */
export function methodNotAllowed(): ModernRejection {
  return reject(405, -32000, 'Method not allowed: this endpoint takes POST', null);
}

/** `Mcp-Name` against the body: the decoded name, or the rejection. */
function checkName(
  method: string,
  params: Readonly<Record<string, unknown>>,
  header: string | undefined,
  id: JsonRpcId | null,
): string | ModernRejection | undefined {
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
  if (field === undefined) return undefined;
  const bodyValue = params[field];
  if (typeof bodyValue !== 'string') {
    // Nothing to mirror: the upstream answers the malformed params in band.
    return header === undefined ? undefined : mismatch(`params.${field} is not a string`, id);
  }
  if (header === undefined) {
    return mismatch(`the body carries params.${field} but Mcp-Name is absent`, id);
  }
  const decoded = decodeHeaderValue(header);
  if (decoded === undefined) return mismatch('Mcp-Name carries a malformed value', id);
  // Header values are case-sensitive (streamable-http "Case Sensitivity").
  if (decoded !== bodyValue) {
    return mismatch(`Mcp-Name names ${JSON.stringify(decoded)}, the body params.${field}`, id);
  }
  return decoded;
}

function paramHeadersOf(headers: RequestHeaderValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    if (!name.startsWith(HEADERS.paramPrefix)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function unsupportedVersion(version: string, id: JsonRpcId | null): ModernRejection | undefined {
  if (SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  return reject(400, MODERN_ERRORS.unsupportedProtocolVersion, unsupportedText(version), id, {
    supported: SUPPORTED_PROTOCOL_VERSIONS,
    requested: version,
  });
}

function unsupportedText(version: string | undefined): string {
  return version === undefined
    ? 'Unsupported protocol version: the request names none'
    : `Unsupported protocol version ${version} for a per-request envelope`;
}

function mismatch(detail: string, id: JsonRpcId | null): ModernRejection {
  return reject(400, MODERN_ERRORS.headerMismatch, `Header mismatch: ${detail}`, id);
}

function reject(
  status: number,
  code: number,
  message: string,
  id: JsonRpcId | null,
  data?: unknown,
): ModernRejection {
  return { kind: 'reject', status, code, message, id, ...(data === undefined ? {} : { data }) };
}

/** RFC 9110 §5.5: optional whitespace around a field value is not part of it. */
function trimmed(value: string | undefined): string | undefined {
  return value === undefined ? undefined : value.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Does the body carry `params._meta["io.modelcontextprotocol/protocolVersion"]`? */
function claimsEnvelope(body: unknown): boolean {
  if (!isRecord(body)) return false;
  const params = body.params;
  if (!isRecord(params)) return false;
  const meta = params._meta;
  return isRecord(meta) && Object.hasOwn(meta, META.protocolVersion);
}

function idOf(body: unknown): JsonRpcId | null {
  if (!isRecord(body)) return null;
  const id = body.id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : null;
}

/** The JSON-RPC error body of a rejection. */
export function rejectionBody(rejection: ModernRejection): string {
  const error: Record<string, unknown> = { code: rejection.code, message: rejection.message };
  if (rejection.data !== undefined) error.data = rejection.data;
  return JSON.stringify({ jsonrpc: '2.0', id: rejection.id, error });
}
