import { ClientError } from '../errors/index.ts';
import { scopeList } from './scope.ts';
import type { OAuthSession } from './session.ts';
import { bearerChallenge } from './www-authenticate.ts';

/** MCP 2025-11-25 asks for a retry limit on step-up; at most this many authorizations per operation. */
export const MAX_AUTHORIZATIONS_PER_OPERATION = 3;

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * The fetch the MCP transport uses to reach the server: it sends the bearer token on every
 * request to the server's origin (never in the URL, MCP "Token Requirements"), refreshes it
 * before it expires, and answers challenges itself, so the SDK transport only ever sees
 * authorized responses:
 * - 401: a stored token is refreshed once; otherwise, or if that fails, a new authorization;
 * - 403 `insufficient_scope`: step-up, asking for the union of the scopes requested so far and
 *   those challenged; stopped when that union asks for nothing new;
 * - at most 3 authorizations per request (operation); a 401 right after a fresh authorization is
 *   final.
 */
export function createAuthenticatedFetch(
  session: OAuthSession,
  options: { base?: FetchLike; maxAuthorizations?: number } = {},
): FetchLike {
  const base = options.base ?? fetch;
  const max = options.maxAuthorizations ?? MAX_AUTHORIZATIONS_PER_OPERATION;
  const origin = session.serverUrl.origin;

  return async function authenticatedFetch(input, init) {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== origin) return base(input, init);
    let token = await session.accessToken();
    let authorizations = 0;
    let refreshed = false;
    let authorizedScope: string[] | undefined;
    for (;;) {
      const headers = new Headers(init?.headers);
      if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
      else headers.delete('authorization');
      const response = await base(input, { ...init, headers });
      if (response.status !== 401 && response.status !== 403) return response;
      const challenge = bearerChallenge(response.headers.get('www-authenticate'));
      const stepUp = response.status === 403;
      if (stepUp && challenge?.error !== 'insufficient_scope') return response;
      await response.body?.cancel().catch(() => undefined);

      if (!stepUp && authorizations > 0) {
        throw new ClientError(
          'ClientServerRefused',
          `${session.serverUrl.href} refused the token it had just authorized (401${challenge?.error ? ` ${challenge.error}` : ''})`,
          {
            fix: 'the server and its authorization server disagree about the token; contact the operator',
          },
        );
      }
      if (!stepUp && token !== undefined && !refreshed) {
        // A stored token the server no longer accepts: a refresh may be all it takes.
        refreshed = true;
        const next = await session.refresh(token);
        if (next !== undefined && next !== token) {
          token = next;
          continue;
        }
      }
      if (stepUp && authorizedScope !== undefined) {
        const wanted = scopeList(challenge?.scope);
        if (wanted.every((scope) => authorizedScope?.includes(scope))) {
          throw exhausted(
            session,
            challenge?.scope,
            authorizations,
            'asking again would request nothing new',
          );
        }
      }
      if (authorizations >= max) {
        throw exhausted(session, challenge?.scope, authorizations, `limit of ${max} reached`);
      }
      authorizations++;
      token = await session.authorize({ ...(challenge ? { challenge } : {}), stepUp });
      const current = await session.currentTokens();
      authorizedScope = scopeList(`${current?.requested_scope ?? ''} ${current?.scope ?? ''}`);
    }
  };
}

function exhausted(
  session: OAuthSession,
  scope: string | undefined,
  authorizations: number,
  why: string,
): ClientError {
  return new ClientError(
    'ClientScopeStepUpExhausted',
    `${session.serverUrl.href} still answers insufficient_scope${scope ? ` (needs "${scope}")` : ''} after ${authorizations} authorization(s): ${why}`,
    { fix: 'your account may not be allowed these scopes; ask the server operator' },
  );
}

/**
 * Static-header mode (`--header`): the given headers on every request to the server's origin,
 * no OAuth. A 401 or 403 is final and says so.
 */
export function createStaticHeadersFetch(
  serverUrl: URL,
  headers: Readonly<Record<string, string>>,
  base: FetchLike = fetch,
): FetchLike {
  return async function staticHeadersFetch(input, init) {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== serverUrl.origin) return base(input, init);
    const merged = new Headers(init?.headers);
    for (const [name, value] of Object.entries(headers)) merged.set(name, value);
    const response = await base(input, { ...init, headers: merged });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel().catch(() => undefined);
      throw new ClientError(
        'ClientServerRefused',
        `${serverUrl.href} answered ${response.status} to the static headers`,
        {
          fix: 'check the --header values; static headers and OAuth are exclusive, drop --header to use OAuth',
        },
      );
    }
    return response;
  };
}
