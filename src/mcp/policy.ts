import { RequestError } from '../errors/index.ts';
import { routeScopes } from '../lib/route-scopes.ts';
import type { JsonRpcMessage } from './json-rpc.ts';

/**
 * Which scope each JSON-RPC call needs: initialize, ping, notifications and tools/list
 * need a valid token but no particular scope; tools/call needs the tool's scope, checked before
 * the upstream sees anything. Everything not named here is refused.
 */

export interface McpPolicyConfig {
  /** Tool name → scope; "*" is the default for unmapped tools. */
  readonly toolScopes: Readonly<Record<string, string>>;
  readonly methodScopes: {
    readonly resources?: string | undefined;
    readonly prompts?: string | undefined;
    readonly completion?: string | undefined;
  };
}

export type Requirement =
  /** A valid token (or local trust) is enough. */
  | { readonly type: 'token' }
  /** The token must carry this scope. */
  | { readonly type: 'scope'; readonly scope: string; readonly tool?: string };

export interface Decision {
  readonly requirement: Requirement;
  /** The response is a tools/list result and must be filtered on the way back. */
  readonly filterToolsList: boolean;
}

/** Methods that need only a valid token. */
const TOKEN_ONLY = new Set(['initialize', 'ping', 'logging/setLevel']);

const FAMILY_METHODS: Readonly<Record<string, 'resources' | 'prompts' | 'completion'>> = {
  'resources/list': 'resources',
  'resources/templates/list': 'resources',
  'resources/read': 'resources',
  'resources/subscribe': 'resources',
  'resources/unsubscribe': 'resources',
  'prompts/list': 'prompts',
  'prompts/get': 'prompts',
  'completion/complete': 'completion',
};

/** The methods the policy knows, with what each needs; for `serve --describe` and the docs. */
export function describePolicy(config: McpPolicyConfig): Record<string, string> {
  const out: Record<string, string> = {
    initialize: 'valid token',
    ping: 'valid token',
    'logging/setLevel': 'valid token',
    'notifications/*': 'valid token',
    'tools/list': 'valid token; result filtered to the tools the token may call',
    'tools/call': 'tool_scopes[name], else tool_scopes["*"], else refused',
  };
  for (const [method, family] of Object.entries(FAMILY_METHODS)) {
    const scope = config.methodScopes[family];
    out[method] = scope === undefined ? 'refused (no method_scopes entry)' : `scope ${scope}`;
  }
  out['(any other method)'] = 'refused';
  return out;
}

export class McpPolicy {
  readonly #config: McpPolicyConfig;

  constructor(config: McpPolicyConfig) {
    this.#config = config;
  }

  /** The scope a tool needs, or undefined when the tool is unmapped (hidden and refused). */
  toolScope(name: string): string | undefined {
    const scopes = this.#config.toolScopes;
    // Own properties only: a tool named "__proto__" or "constructor" must not find Object's.
    if (Object.hasOwn(scopes, name)) return scopes[name];
    return Object.hasOwn(scopes, '*') ? scopes['*'] : undefined;
  }

  /** The scope a method family needs, or undefined when the family is refused. */
  familyScope(family: 'resources' | 'prompts' | 'completion'): string | undefined {
    return this.#config.methodScopes[family];
  }

  /** Every scope this policy can require (what local trust grants): the one route-scope derivation. */
  allScopes(): string[] {
    return routeScopes(this.#config);
  }

  /**
   * What the message needs. Throws RequestError McpMethodDenied or McpToolDenied when nothing
   * could allow it.
   */
  requirementOf(message: JsonRpcMessage): Decision {
    const tokenOnly: Decision = { requirement: { type: 'token' }, filterToolsList: false };
    // A client's answer to a request the server sent (sampling, elicitation, roots).
    if (message.kind === 'response') return tokenOnly;
    const { method } = message;
    if (message.kind === 'notification') {
      if (method.startsWith('notifications/')) return tokenOnly;
      throw new RequestError('McpMethodDenied', `notification ${method} is not allowed`);
    }
    if (TOKEN_ONLY.has(method)) return tokenOnly;
    if (method === 'tools/list') return { requirement: { type: 'token' }, filterToolsList: true };
    if (method === 'tools/call') {
      const name = message.params?.name;
      if (typeof name !== 'string' || name === '') {
        throw new RequestError('RequestMalformed', 'tools/call needs params.name (a string)');
      }
      const scope = this.toolScope(name);
      if (scope === undefined) {
        throw new RequestError(
          'McpToolDenied',
          `tool ${JSON.stringify(name)} is not available through this gateway`,
        );
      }
      return { requirement: { type: 'scope', scope, tool: name }, filterToolsList: false };
    }
    const family = Object.hasOwn(FAMILY_METHODS, method) ? FAMILY_METHODS[method] : undefined;
    if (family !== undefined) {
      const scope = this.#config.methodScopes[family];
      if (scope === undefined) {
        throw new RequestError('McpMethodDenied', `method ${method} is not enabled on this route`);
      }
      return { requirement: { type: 'scope', scope }, filterToolsList: false };
    }
    throw new RequestError('McpMethodDenied', `method ${method} is not allowed`);
  }

  /**
   * Checks the requirement against granted scopes (exact, case-sensitive membership; RFC 6749
   * §3.3). Throws RequestError AuthMissingScope naming the scope.
   */
  authorize(message: JsonRpcMessage, scopes: ReadonlySet<string>): Decision {
    const decision = this.requirementOf(message);
    const { requirement } = decision;
    if (requirement.type === 'scope' && !scopes.has(requirement.scope)) {
      const what = requirement.tool === undefined ? 'this method' : `tool ${requirement.tool}`;
      throw new RequestError('AuthMissingScope', `${what} needs scope ${requirement.scope}`, {
        details: { scope: requirement.scope },
      });
    }
    return decision;
  }
}
