import { RequestError } from '../../errors/index.ts';
import { isLoopbackHost } from '../../lib/host.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import { clientIdentityAssured } from '../clients/identity.ts';
import { errorRedirectTrusted } from '../clients/trusted-redirect.ts';
import { asRequestError, pageError, redirectError } from '../errors.ts';
import { issueAuthorizationCode } from '../grants/authorization-code.ts';
import { seeOther } from '../http.ts';
import { pendingError } from '../pending-authorization.ts';
import { runSteps, type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { consentPage } from '../views/pages.ts';
import { type LoadedInteraction, loadInteraction, redirectOrigin } from './interaction.ts';

interface State extends Exchange {
  readonly headers: Headers;
  interactionId?: string | undefined;
  interaction?: LoadedInteraction;
  subject?: string;
  form?: Params;
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`consent: ${what} missing`);
  return value;
};

const purpose = (id: string) => `consent:${id}`;

/** Takes the pending request (single use) and finishes it: an error, or a code. */
async function finish(state: State, outcome: 'error' | 'deny' | 'allow'): Promise<Response> {
  const loaded = need(state.interaction, 'interaction');
  const taken = await state.services.store.takeInteraction(loaded.record.id);
  if (taken === undefined) {
    throw new RequestError('InteractionNotFound', 'this sign-in request was already completed');
  }
  const { pending } = loaded;
  const { issuer } = state.services.settings;
  if (outcome !== 'allow') {
    const error =
      outcome === 'deny'
        ? new RequestError('OAuthAccessDenied', 'the user denied the request')
        : (pendingError(pending) ?? new RequestError('OAuthInvalidRequest', 'invalid request'));
    audit(state, {
      event: 'oauth.authorization.denied',
      decision: 'deny',
      reason: error.code,
      subject: state.subject,
      client_id: pending.clientId,
    });
    return seeOther(
      redirectError(pending.redirectUri, pending.state, issuer, error),
      state.headers,
    );
  }
  return seeOther(
    await issueAuthorizationCode(state, pending, need(state.subject, 'subject')),
    state.headers,
  );
}

const loadSteps = (idFrom: (state: State) => string | undefined): Step<State>[] => [
  step('load the pending request', async (state) => {
    state.interactionId = idFrom(state);
    state.interaction = await loadInteraction(state, state.interactionId);
    return undefined;
  }),
  step('signed in', async (state) => {
    const session = await currentSession(state);
    if (session === undefined) {
      return seeOther(`${PATHS.login}?interaction=${state.interactionId}`, state.headers);
    }
    state.subject = session.subject;
    return undefined;
  }),
  step('a deferred error goes back now, if its redirect URI is trusted', async (state) => {
    const { pending, client } = need(state.interaction, 'interaction');
    if (pending.error === undefined) return undefined;
    if (
      client === undefined ||
      !(await errorRedirectTrusted(state.services.store, client, state.subject))
    ) {
      throw pendingError(pending) ?? new RequestError('OAuthInvalidRequest', 'invalid request');
    }
    return finish(state, 'error');
  }),
  step('client still valid', (state) => {
    if (need(state.interaction, 'interaction').client === undefined) {
      throw new RequestError('OAuthInvalidClient', 'the client is no longer known');
    }
    return undefined;
  }),
];

const SHOW: readonly Step<State>[] = [
  ...loadSteps((state) => state.url.searchParams.get('interaction') ?? undefined),
  step('remembered consent covers the request', async (state) => {
    const { pending, client } = need(state.interaction, 'interaction');
    if (!clientIdentityAssured(need(client, 'client'), pending.redirectUri)) return undefined;
    const consent = await state.services.store.getConsent(
      need(state.subject, 'subject'),
      pending.clientId,
    );
    const covered =
      consent?.resources.includes(pending.resource) &&
      pending.scopes.every((scope) => consent.scopes.includes(scope));
    return covered ? finish(state, 'allow') : undefined;
  }),
  step('show the consent page', (state) => {
    const { pending, client } = need(state.interaction, 'interaction');
    const redirect = new URL(pending.redirectUri);
    const browser = ensureBrowserId(state, state.headers);
    const resolved = need(client, 'client');
    return consentPage({
      action: PATHS.consent,
      interactionId: need(state.interactionId, 'interaction id'),
      csrf: csrfToken(browser, purpose(need(state.interactionId, 'interaction id'))),
      clientName: resolved.name,
      clientId: resolved.clientId,
      clientIdHost:
        resolved.kind === 'metadata-document' ? new URL(resolved.clientId).host : undefined,
      redirectHost: redirect.host,
      localhostRedirect: isLoopbackHost(redirect.hostname),
      resource: pending.resource,
      scopes: pending.scopes,
      subject: need(state.subject, 'subject'),
      formTargets: redirectOrigin(pending),
      headers: state.headers,
    });
  }),
];

const SUBMIT: readonly Step<State>[] = [
  step('read the form', async (state) => {
    state.form = await readForm(state.request, LIMITS.formMaxBytes);
    return undefined;
  }),
  step('CSRF token fits this browser and request', (state) => {
    const form = need(state.form, 'form');
    checkCsrf(state, form, purpose(form.get('interaction') ?? ''));
    return undefined;
  }),
  ...loadSteps((state) => state.form?.get('interaction')),
  step('decide', async (state) => {
    const decision = need(state.form, 'form').get('decision');
    if (decision === 'deny') return finish(state, 'deny');
    if (decision !== 'allow') {
      throw new RequestError('OAuthInvalidRequest', 'the decision must be allow or deny');
    }
    const { pending } = need(state.interaction, 'interaction');
    const subject = need(state.subject, 'subject');
    const existing = await state.services.store.getConsent(subject, pending.clientId);
    // Remembered per user and client (MCP security best practices, per-client consent); the
    // user can withdraw it on the account page.
    await state.services.store.putConsent({
      subject,
      clientId: pending.clientId,
      scopes: [...new Set([...(existing?.scopes ?? []), ...pending.scopes])],
      resources: [...new Set([...(existing?.resources ?? []), pending.resource])],
      grantedAt: state.services.now(),
    });
    return finish(state, 'allow');
  }),
];

function onError(state: State, error: unknown): Response {
  const known = asRequestError(error);
  if (known.status >= 500) state.services.logger?.error({ err: error }, 'consent page failed');
  return pageError(known, state.headers);
}

/** GET /oauth/consent: the page (or a remembered consent). POST: Allow or Deny. */
export async function consentEndpoint(exchange: Exchange): Promise<Response> {
  const state: State = { ...exchange, headers: new Headers() };
  try {
    if (exchange.request.method === 'POST') return await runSteps(SUBMIT, state);
    return await runSteps(SHOW, state);
  } catch (error) {
    return onError(state, error);
  }
}
