import type { DerivedUpstream, LoadedConfig } from '../config/index.ts';
import { routeScopes } from '../lib/route-scopes.ts';
import type { ChallengeOptions } from './challenge.ts';

/** RFC 9728 §2 protected resource metadata, the members Portcullis publishes. */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly scopes_supported: readonly string[];
  readonly bearer_methods_supported: readonly ['header'];
  readonly resource_name: string;
  /** RFC 9728 §2: proof algorithms accepted, when the route accepts DPoP. */
  readonly dpop_signing_alg_values_supported?: readonly string[];
  /** RFC 9728 §2: only DPoP-bound tokens are accepted (`dpop: required`). */
  readonly dpop_bound_access_tokens_required?: boolean;
}

/** The route's DPoP mode and the proof algorithms, from the configuration. */
function dpopOf(loaded: LoadedConfig, name: string) {
  const mode = loaded.config.upstreams.find((upstream) => upstream.name === name)?.dpop ?? 'off';
  return { mode, algorithms: loaded.config.remote_mcp.dpop_algorithms };
}

function findUpstream(loaded: LoadedConfig, upstream: string | number): DerivedUpstream {
  const found =
    typeof upstream === 'number'
      ? loaded.derived.upstreams[upstream]
      : loaded.derived.upstreams.find((candidate) => candidate.name === upstream);
  if (found === undefined) throw new RangeError(`no upstream ${String(upstream)}`);
  return found;
}

/**
 * Never advertised by a resource, even when configured, neither in `scopes_supported` nor in a
 * challenge's `scope`: refresh tokens are not a resource requirement, and whether to issue them
 * is the authorization server's to say in its own metadata (MCP 2026-07-28 authorization,
 * "Refresh Tokens").
 */
const NOT_ADVERTISED = 'offline_access';

/**
 * The scopes a resource uses: the scopes its route can require (the one derivation, shared with
 * the gateway's policy) that the gateway can grant at all, in order; when it requires none,
 * every allowed scope. `offline_access` is left out of both.
 */
function scopesOf(loaded: LoadedConfig, name: string): readonly string[] {
  const allowed = loaded.config.remote_mcp.allowed_scopes.filter(
    (scope) => scope !== NOT_ADVERTISED,
  );
  const config = loaded.config.upstreams.find((upstream) => upstream.name === name);
  const used =
    config === undefined
      ? []
      : routeScopes({ toolScopes: config.tool_scopes, methodScopes: config.method_scopes }).filter(
          (scope) => allowed.includes(scope),
        );
  return used.length > 0 ? used : [...allowed];
}

/**
 * RFC 9728 §2 document for one upstream: `resource` is exactly the canonical resource URI (no
 * trailing slash, no fragment); bearer tokens only in the header (MCP forbids query tokens).
 */
export function buildProtectedResourceMetadata(
  loaded: LoadedConfig,
  upstream: string | number,
): ProtectedResourceMetadata {
  const found = findUpstream(loaded, upstream);
  const issuer = loaded.derived.issuer;
  const dpop = dpopOf(loaded, found.name);
  return Object.freeze({
    resource: found.resource,
    authorization_servers: Object.freeze(issuer === undefined ? [] : [issuer]),
    scopes_supported: Object.freeze([...scopesOf(loaded, found.name)]),
    bearer_methods_supported: Object.freeze(['header'] as const),
    resource_name: found.name,
    ...(dpop.mode === 'off'
      ? {}
      : { dpop_signing_alg_values_supported: Object.freeze([...dpop.algorithms]) }),
    ...(dpop.mode === 'required' ? { dpop_bound_access_tokens_required: true } : {}),
  });
}

/**
 * Which metadata document a well-known request path asks for: the path-inserted form
 * (`/.well-known/oauth-protected-resource/mcp`, RFC 9728 §3.1) for each upstream, and the root
 * form for the default one. Undefined when the path is not one of them.
 */
export function protectedResourceMetadataForPath(
  loaded: LoadedConfig,
  pathname: string,
): ProtectedResourceMetadata | undefined {
  for (const [index, upstream] of loaded.derived.upstreams.entries()) {
    if (upstream.metadataUrls.some((url) => new URL(url).pathname === pathname)) {
      return buildProtectedResourceMetadata(loaded, index);
    }
  }
  return undefined;
}

/** What buildChallenge needs for requests to one upstream. */
export function challengeOptionsFor(
  loaded: LoadedConfig,
  upstream: string | number,
): ChallengeOptions {
  const found = findUpstream(loaded, upstream);
  const dpop = dpopOf(loaded, found.name);
  return {
    resourceMetadataUrl: found.metadataUrls[0] ?? '',
    scope: scopesOf(loaded, found.name),
    ...(dpop.mode === 'off'
      ? {}
      : { dpop: { algorithms: dpop.algorithms, bearer: dpop.mode === 'allowed' } }),
  };
}
