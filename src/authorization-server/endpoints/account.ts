import { RequestError } from '../../errors/index.ts';
import { readForm } from '../checks/parameters.ts';
import { asRequestError, pageError } from '../errors.ts';
import { seeOther } from '../http.ts';
import { runSteps, type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { accountPage } from '../views/pages.ts';

interface State extends Exchange {
  readonly headers: Headers;
  subject?: string;
}

const PURPOSE = 'account';

const signedIn: Step<State> = step('signed in', async (state) => {
  const session = await currentSession(state);
  if (session === undefined) return seeOther(PATHS.login, state.headers);
  state.subject = session.subject;
  return undefined;
});

const SHOW: readonly Step<State>[] = [
  signedIn,
  step('list remembered consents', async (state) => {
    const subject = state.subject ?? '';
    const browser = ensureBrowserId(state, state.headers);
    return accountPage({
      action: PATHS.account,
      csrf: csrfToken(browser, PURPOSE),
      subject,
      consents: await state.services.store.listConsents(subject),
      ...(state.url.searchParams.get('revoked') === '1' ? { message: 'Consent withdrawn.' } : {}),
      headers: state.headers,
    });
  }),
];

const REVOKE: readonly Step<State>[] = [
  signedIn,
  step('withdraw consent and revoke its grants', async (state) => {
    const form = await readForm(state.request, LIMITS.formMaxBytes);
    checkCsrf(state, form, PURPOSE);
    const clientId = form.get('client_id');
    if (clientId === undefined)
      throw new RequestError('OAuthInvalidRequest', 'client_id is required');
    const subject = state.subject ?? '';
    await revokeConsent(state, subject, clientId);
    return seeOther(`${PATHS.account}?revoked=1`, state.headers);
  }),
];

/** Withdraws a user's consent for a client and revokes every grant (and token) it led to. */
export async function revokeConsent(
  exchange: Exchange,
  subject: string,
  clientId: string,
): Promise<number> {
  const { store, now } = exchange.services;
  await store.deleteConsent(subject, clientId);
  const revoked = await store.revokeGrantsFor(subject, clientId, now());
  audit(exchange, {
    event: 'oauth.consent.revoked',
    decision: 'allow',
    subject,
    client_id: clientId,
  });
  return revoked;
}

/** GET /oauth/account: the signed-in user's remembered consents. POST: withdraw one. */
export async function accountEndpoint(exchange: Exchange): Promise<Response> {
  const state: State = { ...exchange, headers: new Headers() };
  try {
    return await runSteps(exchange.request.method === 'POST' ? REVOKE : SHOW, state);
  } catch (error) {
    const known = asRequestError(error);
    if (known.status >= 500) state.services.logger?.error({ err: error }, 'account page failed');
    return pageError(known, state.headers);
  }
}
