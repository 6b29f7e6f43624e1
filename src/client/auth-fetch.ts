import { ClientError } from '../errors/index.ts';
import { scopeList } from './scope.ts';
import type { OAuthSession } from './session.ts';
import { type BearerChallenge, bearerChallenge } from './www-authenticate.ts';

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
    const operation = new Operation(session, max, await session.accessToken());
    for (;;) {
      const headers = new Headers(init?.headers);
      if (operation.token !== undefined) headers.set('authorization', `Bearer ${operation.token}`);
      else headers.delete('authorization');
      const response = await base(input, { ...init, headers });
      if (response.status !== 401 && response.status !== 403) return response;
      const challenge = bearerChallenge(response.headers.get('www-authenticate'));
      if (response.status === 403 && challenge?.error !== 'insufficient_scope') return response;
      await response.body?.cancel().catch(() => undefined);
      await operation.answer(response.status, challenge);
    }
  };
}

/** The authorization state of one request (one operation, for the retry limit). */
class Operation {
  token: string | undefined;
  readonly #session: OAuthSession;
  readonly #max: number;
  #authorizations = 0;
  #refreshed = false;
  /** Scopes requested and granted by the authorizations of this operation. */
  #authorizedScope: string[] | undefined;

  constructor(session: OAuthSession, max: number, token: string | undefined) {
    this.#session = session;
    this.#max = max;
    this.token = token;
  }

  /** Decides what a 401 or 403 `insufficient_scope` calls for, and gets the next token. */
  async answer(status: number, challenge: BearerChallenge | undefined): Promise<void> {
    const stepUp = status === 403;
    if (!stepUp && this.#authorizations > 0) {
      throw new ClientError(
        'ClientServerRefused',
        `${this.#session.serverUrl.href} refused the token it had just authorized (401${challenge?.error ? ` ${challenge.error}` : ''})`,
        {
          fix: 'the server and its authorization server disagree about the token; contact the operator',
        },
      );
    }
    if (!stepUp && this.token !== undefined && !this.#refreshed) {
      // A stored token the server no longer accepts: a refresh may be all it takes.
      this.#refreshed = true;
      const next = await this.#session.refresh(this.token);
      if (next !== undefined && next !== this.token) {
        this.token = next;
        return;
      }
    }
    if (stepUp && this.#authorizedScope !== undefined) {
      const granted = this.#authorizedScope;
      if (scopeList(challenge?.scope).every((scope) => granted.includes(scope))) {
        throw exhausted(
          this.#session,
          challenge?.scope,
          this.#authorizations,
          'asking again would request nothing new',
        );
      }
    }
    if (this.#authorizations >= this.#max) {
      throw exhausted(
        this.#session,
        challenge?.scope,
        this.#authorizations,
        `limit of ${this.#max} reached`,
      );
    }
    this.#authorizations++;
    this.token = await this.#session.authorize({ ...(challenge ? { challenge } : {}), stepUp });
    const current = await this.#session.currentTokens();
    this.#authorizedScope = scopeList(`${current?.requested_scope ?? ''} ${current?.scope ?? ''}`);
  }
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
 * no OAuth. A 401, or a 403 with a challenge, is final and says so.
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
    // A 403 with no challenge is a refusal of the request (a policy, say), not of the
    // credentials: the MCP layer reports it (RFC 6750 §3 challenges its own refusals).
    const credentialsRefused =
      response.status === 401 ||
      (response.status === 403 && response.headers.has('www-authenticate'));
    if (credentialsRefused) {
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
