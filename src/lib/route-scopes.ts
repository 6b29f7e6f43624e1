/**
 * The one derivation of the scopes a route (one upstream's MCP endpoint) can require, from its
 * `tool_scopes` and `method_scopes`. The gateway's policy grants these under local trust, the
 * protected resource metadata lists them as `scopes_supported` (RFC 9728 §2) and a 401
 * challenge suggests them (RFC 6750 §3, MCP "Scope Selection Strategy"): one list for all three,
 * so what is advertised is what is enforced.
 */

export interface RouteScopeMapping {
  /** Tool name → scope; "*" is the default for unmapped tools. */
  readonly toolScopes: Readonly<Record<string, string>>;
  /** Method family (resources, prompts, completion) → scope; absent: the family is refused. */
  readonly methodScopes: Readonly<Record<string, string | undefined>>;
}

/** Every scope the route can require: tool scopes, then method scopes, in config order, once each. */
export function routeScopes(mapping: RouteScopeMapping): string[] {
  const scopes = new Set(Object.values(mapping.toolScopes));
  for (const scope of Object.values(mapping.methodScopes)) {
    if (scope !== undefined) scopes.add(scope);
  }
  return [...scopes];
}
