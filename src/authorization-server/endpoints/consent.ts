import { RequestError } from '../../errors/index.ts';
import { renderError } from '../../errors/render.ts';
import { isLoopbackHost } from '../../lib/host.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import { DEVICE_CODE_GRANT, deviceStateFrom, putDeviceState } from '../device.ts';
import type { Endpoint } from '../endpoint.ts';
import { issueAuthorizationCode } from '../grants/authorization-code.ts';
import { seeOther } from '../http.ts';
import { pendingError } from '../pending-authorization.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { consentPage, deviceDonePage } from '../views/pages.ts';
import { type LoadedInteraction, loadInteraction, redirectOrigin } from './interaction.ts';

interface State extends Exchange {
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
async function finish(state: State, outcome: 'error' | 'deny' | 'allow'): Promise<HttpAnswer> {
  const loaded = need(state.interaction, 'interaction');
  const taken = await state.services.store.takeInteraction(loaded.record.id);
  if (taken === undefined) {
    throw new RequestError('InteractionNotFound', 'this sign-in request was already completed');
  }
  const { pending } = loaded;
  if (pending.deviceId !== undefined) return decideDevice(state, pending.deviceId, outcome);
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
    return renderError(error, {
      form: { kind: 'redirect', redirectUri: pending.redirectUri, state: pending.state, issuer },
    });
  }
  return seeOther(await issueAuthorizationCode(state, pending, need(state.subject, 'subject')));
}

/**
 * RFC 8628: the decision on a device request goes to the device record the polling client
 * reads; the person gets a page saying they can return to the device.
 */
async function decideDevice(
  state: State,
  deviceId: string,
  outcome: 'error' | 'deny' | 'allow',
): Promise<HttpAnswer> {
  const { store } = state.services;
  const record = await store.getInteraction(deviceId);
  const device = record === undefined ? undefined : deviceStateFrom(record.request);
  if (
    record === undefined ||
    device === undefined ||
    device.status !== 'pending' ||
    record.expiresAt <= state.services.now()
  ) {
    throw new RequestError('InteractionNotFound', 'this device request has expired or was decided');
  }
  const approved = outcome === 'allow';
  await putDeviceState(
    store,
    deviceId,
    {
      ...device,
      status: approved ? 'approved' : 'denied',
      ...(approved ? { subject: need(state.subject, 'subject') } : {}),
    },
    record.createdAt,
    record.expiresAt,
  );
  audit(state, {
    event: approved ? 'oauth.authorization.granted' : 'oauth.authorization.denied',
    decision: approved ? 'allow' : 'deny',
    ...(approved ? {} : { reason: 'OAuthAccessDenied' }),
    subject: state.subject,
    client_id: device.clientId,
    grant_type: DEVICE_CODE_GRANT,
  });
  return deviceDonePage(approved);
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
      return seeOther(`${PATHS.login}?interaction=${state.interactionId}`);
    }
    state.subject = session.subject;
    return undefined;
  }),
  step('a deferred error goes back now', (state) =>
    need(state.interaction, 'interaction').pending.error === undefined
      ? undefined
      : finish(state, 'error'),
  ),
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
    const { pending } = need(state.interaction, 'interaction');
    // A device request is always shown (RFC 8628 §5.4, remote phishing): a code someone else
    // sent the user must not be approved just by being entered.
    if (pending.deviceId !== undefined) return undefined;
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
    // A device request has no redirect: the answer goes to the device that showed the code.
    const redirect = pending.deviceId === undefined ? new URL(pending.redirectUri) : undefined;
    const browser = ensureBrowserId(state, state.responseHeaders);
    const resolved = need(client, 'client');
    return consentPage({
      action: PATHS.consent,
      interactionId: need(state.interactionId, 'interaction id'),
      csrf: csrfToken(browser, purpose(need(state.interactionId, 'interaction id'))),
      clientName: resolved.name,
      clientId: resolved.clientId,
      clientIdHost:
        resolved.kind === 'metadata-document' ? new URL(resolved.clientId).host : undefined,
      redirectHost: redirect?.host ?? 'the device that showed you the code',
      localhostRedirect: redirect !== undefined && isLoopbackHost(redirect.hostname),
      resource: pending.resource,
      scopes: pending.scopes,
      subject: need(state.subject, 'subject'),
      formTargets: redirectOrigin(pending),
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

/** GET /oauth/consent: the page (or a remembered consent). POST: Allow or Deny. */
export const consentEndpoint: Endpoint<State> = {
  name: 'consent page',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: (state) => (state.request.method === 'POST' ? SUBMIT : SHOW),
};
