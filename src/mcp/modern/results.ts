import { isRecord } from '../json-rpc.ts';
import type { McpPolicy } from '../policy.ts';
import { META, MODERN_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './protocol.ts';

/**
 * Results the gateway rewrites or builds on the 2026-07-28 path: `server/discover` filtered by
 * the caller's policy as `initialize` results are, list results marked private when filtered
 * per caller, and the conversions the bridges need between the two eras' result shapes.
 */

type Json = Readonly<Record<string, unknown>>;

/** Methods whose 2026-07-28 results carry `ttlMs` and `cacheScope` (server/utilities/caching). */
const CACHEABLE_METHODS = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

/**
 * Server capabilities without what the policy refuses outright, so that clients do not plan on
 * them: `tasks` always (no tasks/* method passes the gateway), resources, prompts and
 * completions when their method_scopes entry is not set.
 */
export function filterCapabilities(capabilities: Json, policy: McpPolicy): Json {
  const out: Record<string, unknown> = { ...capabilities };
  delete out.tasks;
  if (policy.familyScope('resources') === undefined) delete out.resources;
  if (policy.familyScope('prompts') === undefined) delete out.prompts;
  if (policy.familyScope('completion') === undefined) delete out.completions;
  return out;
}

/**
 * The gateway's answer to `server/discover` from the upstream's (server/discover): capabilities
 * filtered, the versions the gateway itself speaks (it bridges either era to the client), and
 * private caching since the content depends on the caller's policy.
 */
export function filterDiscoverResult(result: Json, policy: McpPolicy): Json {
  const capabilities = isRecord(result.capabilities) ? result.capabilities : {};
  return {
    ...result,
    resultType: 'complete',
    supportedVersions: SUPPORTED_PROTOCOL_VERSIONS,
    capabilities: filterCapabilities(capabilities, policy),
    ttlMs: validTtl(result.ttlMs),
    cacheScope: 'private',
  };
}

/**
 * A `server/discover` result built from a 2025 upstream's `initialize` result, for modern
 * clients of a bridged legacy server.
 */
export function discoverFromInitialize(initialize: Json, policy: McpPolicy): Json {
  const capabilities = isRecord(initialize.capabilities) ? initialize.capabilities : {};
  const result: Record<string, unknown> = {
    supportedVersions: SUPPORTED_PROTOCOL_VERSIONS,
    capabilities: filterCapabilities(capabilities, policy),
    _meta: isRecord(initialize.serverInfo) ? { [META.serverInfo]: initialize.serverInfo } : {},
  };
  if (typeof initialize.instructions === 'string') result.instructions = initialize.instructions;
  return filterDiscoverResult(result, policy);
}

/**
 * An `initialize` result answered by the gateway to a 2025 client of a modern-only upstream,
 * from that upstream's `server/discover` (already filtered). The version is the client's when
 * the gateway speaks it, else the newest 2025 revision (lifecycle "Version Negotiation").
 */
export function initializeFromDiscover(
  discover: Json,
  requestedVersion: unknown,
  legacyVersions: readonly string[],
): Json {
  const meta = isRecord(discover._meta) ? discover._meta : {};
  const serverInfo = isRecord(meta[META.serverInfo])
    ? meta[META.serverInfo]
    : { name: 'portcullis-bridge', version: '0' };
  const protocolVersion =
    typeof requestedVersion === 'string' && legacyVersions.includes(requestedVersion)
      ? requestedVersion
      : legacyVersions[0];
  const capabilities = isRecord(discover.capabilities) ? discover.capabilities : {};
  const out: Record<string, unknown> = { protocolVersion, capabilities, serverInfo };
  if (typeof discover.instructions === 'string') out.instructions = discover.instructions;
  return out;
}

/**
 * A list result filtered per caller may not be shared across authorization contexts
 * (server/utilities/caching: "private"), whatever the upstream said.
 */
export function markPrivate(result: Json): Json {
  return { ...result, ttlMs: validTtl(result.ttlMs), cacheScope: 'private' };
}

/**
 * A 2025 result given to a modern client: the 2026-07-28 result fields added (`resultType`, and
 * cache fields on cacheable methods — private, since the gateway serves many callers).
 */
export function toModernResult(method: string, result: Json, serverInfo?: Json): Json {
  const out: Record<string, unknown> = { ...result, resultType: 'complete' };
  if (CACHEABLE_METHODS.has(method)) {
    out.ttlMs = validTtl(result.ttlMs);
    out.cacheScope = 'private';
  }
  if (serverInfo !== undefined) {
    const meta = isRecord(result._meta) ? result._meta : {};
    out._meta = { ...meta, [META.serverInfo]: serverInfo };
  }
  return out;
}

/** A 2026-07-28 result given to a 2025 client: the fields that era does not define removed. */
export function toLegacyResult(result: Json): Json {
  const { resultType: _resultType, ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  return rest;
}

/** The per-request `_meta` envelope a gateway-built modern request carries (basic/index). */
export function requestEnvelope(
  clientCapabilities: Json,
  clientInfo: Json | undefined,
): Record<string, unknown> {
  return {
    [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
    [META.clientCapabilities]: clientCapabilities,
    ...(clientInfo === undefined ? {} : { [META.clientInfo]: clientInfo }),
  };
}

function validTtl(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}
