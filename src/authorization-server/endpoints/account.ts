import { RequestError } from '../../errors/index.ts';
import { readForm } from '../checks/parameters.ts';
import type { Endpoint } from '../endpoint.ts';
import { seeOther } from '../http.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { accountPage } from '../views/pages.ts';

interface State extends Exchange {
  subject?: string;
}

const PURPOSE = 'account';

const signedIn: Step<State> = step('signed in', async (state) => {
  const session = await currentSession(state);
  if (session === undefined) return seeOther(PATHS.login);
  state.subject = session.subject;
  return undefined;
});

const SHOW: readonly Step<State>[] = [
  signedIn,
  step('list remembered consents', async (state) => {
    const subject = state.subject ?? '';
    const browser = ensureBrowserId(state, state.responseHeaders);
    return accountPage({
      action: PATHS.account,
      csrf: csrfToken(browser, PURPOSE),
      subject,
      consents: await state.services.store.listConsents(subject),
      ...(state.url.searchParams.get('revoked') === '1' ? { message: 'Consent withdrawn.' } : {}),
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
    return seeOther(`${PATHS.account}?revoked=1`);
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
export const accountEndpoint: Endpoint<State> = {
  name: 'account page',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: (state) => (state.request.method === 'POST' ? REVOKE : SHOW),
};
