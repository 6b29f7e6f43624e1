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
 * The scopes a resource uses: the scopes its route can require (the one derivation, shared with
 * the gateway's policy) that the gateway can grant at all, in order; when it requires none,
 * every allowed scope.
 */
function scopesOf(loaded: LoadedConfig, name: string): readonly string[] {
  const allowed = loaded.config.remote_mcp.allowed_scopes;
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
  return Object.freeze({
    resource: found.resource,
    authorization_servers: Object.freeze(issuer === undefined ? [] : [issuer]),
    scopes_supported: Object.freeze([...scopesOf(loaded, found.name)]),
    bearer_methods_supported: Object.freeze(['header'] as const),
    resource_name: found.name,
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
  return {
    resourceMetadataUrl: found.metadataUrls[0] ?? '',
    scope: scopesOf(loaded, found.name),
  };
}
