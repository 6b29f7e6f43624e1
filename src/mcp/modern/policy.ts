import { RequestError } from '../../errors/index.ts';
import { isRecord } from '../json-rpc.ts';
import type { Decision, McpPolicy } from '../policy.ts';
import type { ResponseFilter } from '../response-filters.ts';
import { filterToolsListResponse } from '../tools-list.ts';
import type { ModernRequest } from './inbound.ts';
import { filterDiscoverResult, markPrivate } from './results.ts';

/**
 * What a 2026-07-28 request needs, decided on its parsed body (never on a header alone): the
 * methods both eras share keep the policy they have today; `server/discover` needs a valid
 * token (its 401 is what starts a modern client's authorization); `subscriptions/listen` needs
 * its own scope, and is refused when none is configured — as a method family without a
 * method_scopes entry is.
 */

export interface ModernPolicyOptions {
  /** The scope `subscriptions/listen` needs; undefined refuses it. */
  readonly listenScope: string | undefined;
}

/** A decision and every scope it needs (a listen with resource subscriptions needs two). */
export interface ModernDecision extends Decision {
  readonly scopes: readonly string[];
}

export function modernRequirement(
  policy: McpPolicy,
  request: ModernRequest,
  options: ModernPolicyOptions,
): ModernDecision {
  if (request.method === 'server/discover') {
    return { requirement: { type: 'token' }, filterToolsList: false, scopes: [] };
  }
  if (request.method === 'subscriptions/listen') {
    const listenScope = options.listenScope;
    if (listenScope === undefined) {
      throw new RequestError(
        'McpMethodDenied',
        'method subscriptions/listen is not enabled on this route',
      );
    }
    const scopes = [listenScope];
    const filter = isRecord(request.params.notifications) ? request.params.notifications : {};
    const resources = filter.resourceSubscriptions;
    if (Array.isArray(resources) && resources.length > 0) {
      // Updates of a resource disclose that it changed: the resources scope is needed as well.
      const resourcesScope = policy.familyScope('resources');
      if (resourcesScope === undefined) {
        throw new RequestError(
          'McpMethodDenied',
          'resource subscriptions are not enabled on this route',
        );
      }
      if (resourcesScope !== listenScope) scopes.push(resourcesScope);
    }
    return { requirement: { type: 'scope', scope: listenScope }, filterToolsList: false, scopes };
  }
  const decision = policy.requirementOf({
    kind: 'request',
    id: request.id,
    method: request.method,
    params: request.params,
  });
  const scopes = decision.requirement.type === 'scope' ? [decision.requirement.scope] : [];
  return { ...decision, scopes };
}

/**
 * Checks the requirement against granted scopes (exact membership, RFC 6749 §3.3). Throws
 * RequestError AuthMissingScope naming the first scope missing.
 */
export function authorizeModern(
  policy: McpPolicy,
  request: ModernRequest,
  scopes: ReadonlySet<string>,
  options: ModernPolicyOptions,
): ModernDecision {
  const decision = modernRequirement(policy, request, options);
  const missing = decision.scopes.find((scope) => !scopes.has(scope));
  if (missing !== undefined) {
    const requirement = decision.requirement;
    const what =
      requirement.type === 'scope' && requirement.tool !== undefined
        ? `tool ${requirement.tool}`
        : `method ${request.method}`;
    throw new RequestError('AuthMissingScope', `${what} needs scope ${missing}`, {
      details: { scope: missing },
    });
  }
  return decision;
}

/** Lists filtered per caller (server/utilities/caching: such results are private). */
const PRIVATE_LISTS = new Set(['tools/list', 'resources/list', 'prompts/list']);

/**
 * The rewrite of a modern answer: discover filtered by policy, tools/list filtered to what the
 * scopes allow, and per-caller lists marked private whatever the upstream said.
 */
export function modernResponseFilter(
  request: ModernRequest,
  decision: Decision,
  policy: McpPolicy,
  scopes: ReadonlySet<string>,
): ResponseFilter | undefined {
  if (request.method === 'server/discover') {
    return (response) => rewriteResult(response, (result) => filterDiscoverResult(result, policy));
  }
  if (decision.filterToolsList) {
    return (response) => {
      const filtered = JSON.parse(filterToolsListResponse(response, policy, scopes)) as Record<
        string,
        unknown
      >;
      return rewriteResult(filtered, markPrivate);
    };
  }
  if (PRIVATE_LISTS.has(request.method)) {
    return (response) => rewriteResult(response, markPrivate);
  }
  return undefined;
}

function rewriteResult(
  response: Readonly<Record<string, unknown>>,
  change: (result: Readonly<Record<string, unknown>>) => Readonly<Record<string, unknown>>,
): string {
  if (!isRecord(response.result)) return JSON.stringify(response);
  return JSON.stringify({ ...response, result: change(response.result) });
}
