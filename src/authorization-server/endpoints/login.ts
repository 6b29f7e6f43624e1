import type { HttpAnswer } from '../../lib/http-answer.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import type { Endpoint } from '../endpoint.ts';
import { seeOther } from '../http.ts';
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
}

const purpose = (interactionId: string | undefined) =>
  interactionId === undefined ? 'login' : `login:${interactionId}`;

/** Where a successful sign-in continues: the consent page of its request, or the account page. */
const nextPath = (interactionId: string | undefined) =>
  interactionId === undefined ? PATHS.account : `${PATHS.consent}?interaction=${interactionId}`;

function renderForm(state: State, extra: { error?: string; status?: number } = {}): HttpAnswer {
  const browser = ensureBrowserId(state, state.responseHeaders);
  return loginPage({
    action: PATHS.login,
    interactionId: state.interactionId,
    csrf: csrfToken(browser, purpose(state.interactionId)),
    clientName: state.interaction?.client?.name,
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
    (await currentSession(state)) === undefined
      ? undefined
      : seeOther(nextPath(state.interactionId)),
  ),
  step('show the form', (state) => renderForm(state)),
];

const throttleKeys = (state: State, username: string): string[] => {
  const keys = [`login:user:${username}`];
  if (state.context.clientAddress !== undefined)
    keys.push(`login:address:${state.context.clientAddress}`);
  return keys;
};

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
  step('not throttled', async (state) => {
    const username = state.form?.get('username') ?? '';
    state.username = username;
    const now = state.services.now();
    const [userCount, addressCount] = await Promise.all(
      throttleKeys(state, username).map((key) =>
        state.services.store.readCounter(key, LIMITS.loginWindowMs, now),
      ),
    );
    if (
      (userCount ?? 0) >= LIMITS.loginFailuresPerUser ||
      (addressCount ?? 0) >= LIMITS.loginFailuresPerAddress
    ) {
      audit(state, {
        event: 'oauth.login.throttled',
        decision: 'deny',
        reason: 'LoginThrottled',
        subject: username,
      });
      const retryAfter = Math.ceil((LIMITS.loginWindowMs - (now % LIMITS.loginWindowMs)) / 1000);
      state.responseHeaders.set('retry-after', String(retryAfter));
      return renderForm(state, {
        error: 'Too many failed sign-ins. Wait a few minutes and try again.',
        status: 429,
      });
    }
    return undefined;
  }),
  step('check the password', async (state) => {
    const username = state.username ?? '';
    const password = state.form?.get('password') ?? '';
    const user = await checkLogin(state.services.store, username, password);
    if (user !== undefined) return undefined;
    const now = state.services.now();
    await Promise.all(
      throttleKeys(state, username).map((key) =>
        state.services.store.incrementCounter(key, LIMITS.loginWindowMs, now),
      ),
    );
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
    return seeOther(nextPath(state.interactionId));
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
