/**
 * Names and numbers of the MCP 2026-07-28 wire that the gateway decides on. The revision removed
 * the initialize handshake and sessions: every request names its revision in `params._meta`
 * (basic/index "_meta") and mirrors its method and target in headers
 * (basic/transports/streamable-http "Request Metadata").
 */

/** The stateless revision (no initialize, no Mcp-Session-Id). */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/** The session-based revisions the gateway still serves and bridges, newest first. */
export const LEGACY_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;

/** Every revision the gateway speaks, newest first (listed in -32022 answers). */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [
  MODERN_PROTOCOL_VERSION,
  ...LEGACY_PROTOCOL_VERSIONS,
];

/**
 * Revisions are dates in ISO form, so string order is time order: anything from 2026-07-28 on
 * belongs to the stateless era (basic/versioning).
 */
export function isModernVersion(version: string): boolean {
  return version >= MODERN_PROTOCOL_VERSION;
}

export function isSupportedVersion(version: string): boolean {
  return SUPPORTED_PROTOCOL_VERSIONS.includes(version);
}

/** `_meta` keys of the per-request envelope (basic/index "_meta"). */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
  logLevel: 'io.modelcontextprotocol/logLevel',
} as const;

/** Request headers (lower case; field names are case-insensitive, RFC 9110 §5.1). */
export const HEADERS = {
  protocolVersion: 'mcp-protocol-version',
  method: 'mcp-method',
  name: 'mcp-name',
  session: 'mcp-session-id',
  lastEventId: 'last-event-id',
  /** Prefix of the headers mirroring tool arguments marked `x-mcp-header`. */
  paramPrefix: 'mcp-param-',
} as const;

/** JSON-RPC error codes of the 2026-07-28 revision (basic/index "Error Codes"). */
export const MODERN_ERRORS = {
  methodNotFound: -32601,
  invalidParams: -32602,
  /** HeaderMismatch: headers disagree with the body, or required ones are missing/malformed. */
  headerMismatch: -32020,
  /** MissingRequiredClientCapability. */
  missingClientCapability: -32021,
  /** UnsupportedProtocolVersion: `data.supported` lists what the server speaks. */
  unsupportedProtocolVersion: -32022,
} as const;

/**
 * Which body field `Mcp-Name` mirrors, per method (streamable-http "Standard Request Headers").
 */
export const NAME_SOURCE: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

/** Methods that may answer with an InputRequiredResult (basic/patterns/mrtr "Supported Requests"). */
export const INPUT_REQUIRED_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'prompts/get',
  'resources/read',
]);

/** The list methods whose results the gateway filters per caller (server/utilities/caching). */
export const FILTERED_LIST_METHODS: ReadonlySet<string> = new Set([
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'prompts/list',
]);
