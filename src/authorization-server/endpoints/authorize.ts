import { RequestError } from '../../errors/index.ts';
import { renderError } from '../../errors/render.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import { type Params, required, singleValued } from '../checks/parameters.ts';
import { checkCodeChallenge } from '../checks/pkce.ts';
import { checkRedirectUri } from '../checks/redirect-uri.ts';
import { checkResource } from '../checks/resource.ts';
import { checkResponseType } from '../checks/response-type.ts';
import { checkScopesWithin, parseScope } from '../checks/scope.ts';
import { checkState } from '../checks/state.ts';
import type { Client } from '../clients/client.ts';
import { randomToken, sha256 } from '../crypto.ts';
import type { Endpoint } from '../endpoint.ts';
import { seeOther } from '../http.ts';
import { type PendingAuthorization, pendingToJson } from '../pending-authorization.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';

interface State extends Exchange {
  params?: Params;
  client?: Client;
  /** Set once the redirect URI is validated: from then on errors go back to the client. */
  redirect?: { readonly uri: string; readonly state: string | undefined };
  pending?: Omit<PendingAuthorization, 'error'>;
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`authorize: ${what} missing`);
  return value;
};

/**
 * GET /oauth/authorize (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1). Until the client and its redirect
 * URI are known good, errors are shown on a page and never redirected (RFC 6749 §4.1.2.1); after
 * that they go back to the redirect URI with `state` and `iss`.
 */
const STEPS: readonly Step<State>[] = [
  step('parameters are single-valued', (state) => {
    state.params = singleValued(state.url.searchParams);
    return undefined;
  }),
  step('client is known', async (state) => {
    const clientId = required(need(state.params, 'params'), 'client_id');
    const client = await state.services.clients.resolve(clientId);
    if (client === undefined) throw new RequestError('OAuthInvalidClient', 'unknown client_id');
    if (!client.grantTypes.includes('authorization_code')) {
      throw new RequestError(
        'OAuthUnauthorizedClient',
        'this client may not use authorization codes',
      );
    }
    state.client = client;
    return undefined;
  }),
  step('redirect URI is registered', (state) => {
    const params = need(state.params, 'params');
    const requested = required(params, 'redirect_uri');
    const uri = checkRedirectUri(need(state.client, 'client').redirectUris, requested);
    // The state is validated next; until then it is echoed only if it is sane.
    let echoed: string | undefined;
    try {
      echoed = checkState(params.get('state'));
    } catch {
      echoed = undefined;
    }
    state.redirect = { uri, state: echoed };
    return undefined;
  }),
  step('state is sane', (state) => {
    checkState(need(state.params, 'params').get('state'));
    return undefined;
  }),
  step('response type is code', (state) => {
    checkResponseType(need(state.params, 'params').get('response_type'));
    return undefined;
  }),
  step('PKCE with S256', (state) => {
    const params = need(state.params, 'params');
    checkCodeChallenge(params.get('code_challenge'), params.get('code_challenge_method'));
    return undefined;
  }),
  step('resource is one of ours', (state) => {
    checkResource(need(state.params, 'params').get('resource'), state.services.settings.resources);
    return undefined;
  }),
  step('scopes are allowed for the client', (state) => {
    const params = need(state.params, 'params');
    const client = need(state.client, 'client');
    const scopes = checkScopesWithin(
      parseScope(params.get('scope')),
      client.scopes,
      'what this client may request',
    );
    const redirect = need(state.redirect, 'redirect');
    state.pending = {
      clientId: client.clientId,
      redirectUri: redirect.uri,
      state: redirect.state,
      scopes,
      resource: need(params.get('resource'), 'resource'),
      codeChallenge: need(params.get('code_challenge'), 'code_challenge'),
    };
    return undefined;
  }),
  step('continue to sign-in or consent', async (state) => {
    const pending = need(state.pending, 'pending');
    const id = await startInteraction(state, pending);
    const next = (await currentSession(state)) === undefined ? PATHS.login : PATHS.consent;
    return seeOther(`${next}?interaction=${id}`);
  }),
];

/** Stores the pending request, bound to this browser, and returns its id. */
async function startInteraction(state: State, pending: PendingAuthorization): Promise<string> {
  const browser = ensureBrowserId(state, state.responseHeaders);
  const id = randomToken(24);
  const now = state.services.now();
  await state.services.store.putInteraction({
    id,
    browserHash: sha256(browser),
    request: pendingToJson(pending),
    createdAt: now,
    expiresAt: now + LIMITS.interactionTtlMs,
  });
  return id;
}

/**
 * Where a refusal goes (RFC 6749 §4.1.2.1): a page while the client or its redirect URI is not
 * known good, or on an internal failure; otherwise back to the redirect URI with `state` and
 * `iss`.
 */
async function refused(state: State, error: RequestError): Promise<HttpAnswer | undefined> {
  const client = state.client;
  const redirect = state.redirect;
  audit(state, {
    event: 'oauth.authorization.denied',
    decision: error.status >= 500 ? 'error' : 'deny',
    reason: error.code,
    client_id: client?.clientId,
  });
  if (client === undefined || redirect === undefined || error.status >= 500) return undefined;
  // A client anyone can register (dynamic or metadata document) gets its error only after the
  // user has signed in, so an unauthenticated link cannot bounce visitors to it (RFC 9700 §4.11.2).
  if (client.kind !== 'pre-registered' && (await currentSession(state)) === undefined) {
    const id = await startInteraction(state, {
      clientId: client.clientId,
      redirectUri: redirect.uri,
      state: redirect.state,
      scopes: [],
      resource: '',
      codeChallenge: '',
      error: { code: error.code, message: error.message },
    });
    return seeOther(`${PATHS.login}?interaction=${id}`);
  }
  return renderError(error, {
    form: {
      kind: 'redirect',
      redirectUri: redirect.uri,
      state: redirect.state,
      issuer: state.services.settings.issuer,
    },
  });
}

export const authorizeEndpoint: Endpoint<State> = {
  name: 'authorization endpoint',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: () => STEPS,
  refused,
};
