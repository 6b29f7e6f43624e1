import { RequestError } from '../../errors/index.ts';
import { readForm } from '../checks/parameters.ts';
import type { Client } from '../clients/client.ts';
import type { Endpoint } from '../endpoint.ts';
import { personLabel } from '../federation/consent.ts';
import { forgetProviderTokens } from '../federation/forget.ts';
import { seeOther } from '../http.ts';
import { applicationOf, isAdmin } from '../operator.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { type AccountEntry, accountPage } from '../views/pages.ts';

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
  step('list connected applications', async (state) => {
    const subject = state.subject ?? '';
    const browser = ensureBrowserId(state, state.responseHeaders);
    const { store, settings } = state.services;
    return accountPage({
      branding: settings.branding,
      action: PATHS.account,
      logoutAction: PATHS.logout,
      csrf: csrfToken(browser, PURPOSE),
      subject: await personLabel(state, subject),
      entries: await accountEntries(state, subject),
      ...(state.url.searchParams.get('revoked') === '1'
        ? { message: 'Access revoked: the application can no longer act on your behalf.' }
        : {}),
      ...(isAdmin(await store.getUser(subject)) ? { adminPath: PATHS.admin } : {}),
    });
  }),
];

/**
 * One entry per application holding the user's consent or a live grant: its name and who
 * vouches for it, the scopes and resources consented to, first and last use.
 */
async function accountEntries(exchange: Exchange, subject: string): Promise<AccountEntry[]> {
  const { store, clients, now } = exchange.services;
  const consents = await store.listConsents(subject);
  const grants = await store.listGrants({ subject, liveAt: now() });
  const ids = [...new Set([...consents.map((c) => c.clientId), ...grants.map((g) => g.clientId)])];
  const entries: AccountEntry[] = [];
  for (const clientId of ids) {
    const consent = consents.find((c) => c.clientId === clientId);
    const own = grants.filter((g) => g.clientId === clientId);
    let client: Client | undefined;
    try {
      client = await clients.resolve(clientId);
    } catch {
      // A metadata document that cannot be fetched now: still listed, by id, to be revoked.
      client = undefined;
    }
    const firsts = [consent?.grantedAt, ...own.map((g) => g.createdAt)].filter(
      (t): t is number => t !== undefined,
    );
    const lasts = own.map((g) => g.lastUsedAt);
    entries.push({
      application:
        client === undefined
          ? { clientId, name: undefined, verification: 'unverified' }
          : applicationOf(client),
      scopes: [...new Set([...(consent?.scopes ?? []), ...own.flatMap((g) => g.scopes)])],
      resources: [...new Set([...(consent?.resources ?? []), ...own.map((g) => g.resource)])],
      firstUsedAt: firsts.length === 0 ? undefined : Math.min(...firsts),
      lastUsedAt: lasts.length === 0 ? undefined : Math.max(...lasts),
      liveGrants: own.length,
    });
  }
  return entries;
}

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
  // Revocation follows the person: the provider tokens kept for upstreams go too.
  await forgetProviderTokens(store, subject, now());
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
