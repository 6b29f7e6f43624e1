/** Splits a space-delimited scope string (RFC 6749 §3.3) into distinct tokens, order kept. */
export function scopeList(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(/\s+/).filter(Boolean))];
}

/** The union of scope strings, order kept; undefined when empty. */
export function unionScopes(...scopes: (string | undefined)[]): string | undefined {
  const all = [...new Set(scopes.flatMap(scopeList))];
  return all.length === 0 ? undefined : all.join(' ');
}

export interface ScopeInputs {
  /** `--scope`: the user's choice wins. */
  readonly explicit?: string | undefined;
  /** `scope` of the 401/403 challenge. */
  readonly challenge?: string | undefined;
  /** Protected resource metadata `scopes_supported`. */
  readonly resourceScopes?: readonly string[] | undefined;
  /** Authorization server metadata `scopes_supported` (only consulted for offline_access). */
  readonly serverScopes?: readonly string[] | undefined;
  /** Step-up: the scopes requested (and granted) for the token that was refused. */
  readonly previous?: string | undefined;
  readonly grant: 'authorization_code' | 'client_credentials' | 'device_code';
}

/**
 * MCP 2025-11-25 scope selection: the challenge's `scope`, else every scope of the protected
 * resource metadata, else none (the parameter is omitted). On step-up, the union of what was
 * requested before and what is challenged (MCP draft, SEP-2350). `offline_access` is added for an
 * interactive grant only when the authorization server lists it (SEP-2207), and never turns an
 * omitted scope into one.
 */
export function selectScope(inputs: ScopeInputs): string | undefined {
  if (inputs.explicit !== undefined && inputs.explicit.trim() !== '') {
    return unionScopes(inputs.explicit);
  }
  const base =
    unionScopes(inputs.challenge) ??
    (inputs.resourceScopes && inputs.resourceScopes.length > 0
      ? unionScopes(inputs.resourceScopes.join(' '))
      : undefined);
  const selected = inputs.previous !== undefined ? unionScopes(inputs.previous, base) : base;
  if (
    selected !== undefined &&
    inputs.grant !== 'client_credentials' &&
    inputs.serverScopes?.includes('offline_access')
  ) {
    return unionScopes(selected, 'offline_access');
  }
  return selected;
}
