import { RequestError } from '../../errors/index.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import type { Endpoint } from '../endpoint.ts';
import { signInHref } from '../federation/endpoints.ts';
import { seeOther } from '../http.ts';
import { LoginThrottle } from '../login-throttle.ts';
import { applicationOf } from '../operator.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId, startSession } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { checkLogin } from '../users.ts';
import { loginPage } from '../views/pages.ts';
import { type LoadedInteraction, loadInteraction, redirectOrigin } from './interaction.ts';

interface State extends Exchange {
  interactionId?: string | undefined;
  interaction?: LoadedInteraction;
  form?: Params;
  username?: string;
  /** This attempt's rank in the throttle window (login-throttle.ts). */
  attempt?: number;
}

const purpose = (interactionId: string | undefined) =>
  interactionId === undefined ? 'login' : `login:${interactionId}`;

/**
 * Where a successful sign-in continues: the consent page of its request, else the account page
 * (the admin page on the admin listener).
 */
const nextPath = (state: State) =>
  state.interactionId !== undefined
    ? `${PATHS.consent}?interaction=${state.interactionId}`
    : state.context.listener === 'admin'
      ? PATHS.admin
      : PATHS.account;

async function renderForm(
  state: State,
  extra: { error?: string; status?: number } = {},
): Promise<HttpAnswer> {
  const browser = ensureBrowserId(state, state.responseHeaders);
  const client = state.interaction?.client;
  const resource = state.interaction?.pending.resource;
  const federation = state.services.federation;
  const csrf = csrfToken(browser, purpose(state.interactionId));
  return loginPage({
    branding: state.services.settings.branding,
    // The identity provider endpoints are served on the public listener only.
    ...(federation === undefined || state.context.listener === 'admin'
      ? {}
      : {
          providers: [...federation.providers.values()].map((provider) => ({
            label: provider.displayName,
            href: signInHref(provider.name, state.interactionId, csrf),
          })),
        }),
    ...(federation === undefined
      ? {}
      : { localLogin: await federation.localLoginOffered(state.services.store) }),
    action: PATHS.login,
    interactionId: state.interactionId,
    csrf,
    ...(client === undefined ? {} : { application: applicationOf(client) }),
    ...(resource ? { resource } : {}),
    ...(state.username === undefined ? {} : { username: state.username }),
    ...(extra.error === undefined ? {} : { error: extra.error }),
    ...(extra.status === undefined ? {} : { status: extra.status }),
    formTargets: state.interaction ? redirectOrigin(state.interaction.pending) : [],
  });
}

const SHOW: readonly Step<State>[] = [
  step('load the pending request', async (state) => {
    state.interactionId = state.url.searchParams.get('interaction') ?? undefined;
    if (state.interactionId !== undefined) {
      state.interaction = await loadInteraction(state, state.interactionId);
    }
    return undefined;
  }),
  step('skip when already signed in', async (state) =>
    // OpenID Connect Core §3.1.2.1 prompt=login: sign in again (to renew a provider sign-in).
    state.url.searchParams.get('prompt') === 'login' || (await currentSession(state)) === undefined
      ? undefined
      : seeOther(nextPath(state)),
  ),
  step('show the form', (state) => renderForm(state)),
];

const SUBMIT: readonly Step<State>[] = [
  step('read the form', async (state) => {
    state.form = await readForm(state.request, LIMITS.formMaxBytes);
    state.interactionId = state.form.get('interaction');
    return undefined;
  }),
  step('CSRF token fits this browser and request', (state) => {
    checkCsrf(state, state.form ?? new Map(), purpose(state.interactionId));
    return undefined;
  }),
  step('load the pending request', async (state) => {
    if (state.interactionId !== undefined) {
      state.interaction = await loadInteraction(state, state.interactionId);
    }
    return undefined;
  }),
  step('local sign-in offered', async (state) => {
    const federation = state.services.federation;
    if (federation !== undefined && !(await federation.localLoginOffered(state.services.store))) {
      throw new RequestError('OAuthInvalidRequest', 'sign-in with a local account is turned off');
    }
    return undefined;
  }),
  step('not throttled', async (state) => {
    const username = state.form?.get('username') ?? '';
    state.username = username;
    const decision = await new LoginThrottle(state.services.store).admit(
      username,
      state.context.clientAddress,
      state.services.now(),
    );
    if (decision.allowed) {
      state.attempt = decision.attempt;
      return undefined;
    }
    audit(state, {
      event: 'oauth.login.throttled',
      decision: 'deny',
      reason: 'LoginThrottled',
      subject: username,
    });
    state.responseHeaders.set('retry-after', String(decision.retryAfterSeconds));
    return renderForm(state, {
      error: 'Too many failed sign-ins. Wait a few minutes and try again.',
      status: 429,
    });
  }),
  step('check the password', async (state) => {
    const username = state.username ?? '';
    const password = state.form?.get('password') ?? '';
    const user = await checkLogin(state.services.store, username, password);
    const throttle = new LoginThrottle(state.services.store);
    const { clientAddress } = state.context;
    if (user !== undefined) {
      await throttle.succeeded(username, clientAddress, state.services.now());
      return undefined;
    }
    await throttle.failed(username, clientAddress, state.attempt ?? 0, state.services.now());
    audit(state, {
      event: 'oauth.login.failed',
      decision: 'deny',
      reason: 'LoginFailed',
      subject: username,
    });
    return renderForm(state, { error: 'Wrong username or password.', status: 400 });
  }),
  step('start the session', async (state) => {
    const username = state.username ?? '';
    await startSession(state, username, state.responseHeaders);
    audit(state, { event: 'oauth.login.succeeded', decision: 'allow', subject: username });
    return seeOther(nextPath(state));
  }),
];

/** GET /oauth/login: the form. POST: check it, throttled per user and per address. */
export const loginEndpoint: Endpoint<State> = {
  name: 'login page',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: (state) => (state.request.method === 'POST' ? SUBMIT : SHOW),
};
