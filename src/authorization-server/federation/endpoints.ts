import { RequestError } from '../../errors/index.ts';
import type { JsonObject } from '../../store/index.ts';
import { type Params, readForm, singleValued } from '../checks/parameters.ts';
import { safeEqual, sha256 } from '../crypto.ts';
import type { Endpoint } from '../endpoint.ts';
import { loadInteraction } from '../endpoints/interaction.ts';
import { seeOther } from '../http.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { browserId, checkCsrf, startSession } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { scopesPermitted } from './claim-rules.ts';
import { FEDERATION_PATHS, type Federation, SIGN_IN_TTL_MS } from './federation.ts';
import type { IdentityProvider, SignedIn } from './provider.ts';
import { federatedSubject } from './subject.ts';

/** The federation of the server; the routes exist only when it does. */
function federationOf(exchange: Exchange): Federation {
  const federation = exchange.services.federation;
  if (federation === undefined) throw new Error('federation endpoints without federation');
  return federation;
}

/** A sign-in at a provider is kept under a hash of its `state`, in the pending-request table. */
const signInId = (state: string) => `idp.${sha256(state)}`;

/** The same CSRF purpose as the password form beside the buttons (one token serves both). */
const loginPurpose = (interactionId: string | undefined) =>
  interactionId === undefined ? 'login' : `login:${interactionId}`;

const nextPath = (interactionId: string | undefined) =>
  interactionId === undefined ? PATHS.account : `${PATHS.consent}?interaction=${interactionId}`;

/**
 * The link behind a provider's button on the sign-in page: the provider, the pending request
 * and the page's CSRF token (so another site cannot start sign-ins in this browser).
 */
export function signInHref(
  provider: string,
  interactionId: string | undefined,
  csrf: string,
): string {
  const query = new URLSearchParams({ provider, csrf });
  if (interactionId !== undefined) query.set('interaction', interactionId);
  return `${FEDERATION_PATHS.start}?${query.toString()}`;
}

interface StartState extends Exchange {
  form?: Params;
  interactionId?: string | undefined;
  provider?: IdentityProvider;
}

const START: readonly Step<StartState>[] = [
  step('read the parameters', async (state) => {
    state.form =
      state.request.method === 'POST'
        ? await readForm(state.request, LIMITS.formMaxBytes)
        : singleValued(state.url.searchParams);
    state.interactionId = state.form.get('interaction');
    return undefined;
  }),
  step('CSRF token fits this browser and request', (state) => {
    checkCsrf(state, state.form ?? new Map(), loginPurpose(state.interactionId));
    return undefined;
  }),
  step('the pending request belongs to this browser', async (state) => {
    if (state.interactionId !== undefined) await loadInteraction(state, state.interactionId);
    return undefined;
  }),
  step('a configured provider', (state) => {
    state.provider = federationOf(state).get(state.form?.get('provider'));
    if (state.provider === undefined) {
      throw new RequestError('OAuthInvalidRequest', 'no such identity provider');
    }
    return undefined;
  }),
  step('remember the sign-in and go to the provider', async (state) => {
    const provider = state.provider as IdentityProvider;
    const started = await provider.start();
    const now = state.services.now();
    const browser = browserId(state) ?? '';
    const request: JsonObject = {
      provider: provider.name,
      nonce: started.nonce,
      codeVerifier: started.codeVerifier,
      ...(state.interactionId === undefined ? {} : { interactionId: state.interactionId }),
    };
    // Bound to this browser: a callback carrying this state in another browser is refused
    // (RFC 9700 §4.7.1, CSRF on the redirect URI), and it is single use (taken at the callback).
    await state.services.store.putInteraction({
      id: signInId(started.state),
      browserHash: sha256(browser),
      request,
      createdAt: now,
      expiresAt: now + SIGN_IN_TTL_MS,
    });
    return seeOther(started.url);
  }),
];

/** GET /oauth/idp/start (the button's link) or POST (a form): off to the provider. */
export const federationStartEndpoint: Endpoint<StartState> = {
  name: 'identity provider sign-in',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: () => START,
};

/** The provider's own name for the person, for pages only (never for identity). */
function labelOf(claims: Readonly<Record<string, unknown>>): string | undefined {
  for (const name of ['email', 'preferred_username', 'name']) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return value.slice(0, 128);
  }
  return undefined;
}

interface CallbackState extends Exchange {
  provider?: IdentityProvider;
  started?: { nonce: string; codeVerifier: string; interactionId: string | undefined };
  signedIn?: SignedIn;
  subject?: string;
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`idp callback: ${what} missing`);
  return value;
};

const CALLBACK: readonly Step<CallbackState>[] = [
  step('find the sign-in by its state, once, in this browser', async (state) => {
    const value = state.url.searchParams.get('state');
    const gone = new RequestError(
      'InteractionNotFound',
      'this sign-in has expired or was already completed; start again from the application',
    );
    if (value === null || value === '') throw gone;
    const record = await state.services.store.takeInteraction(signInId(value));
    if (record === undefined || record.expiresAt <= state.services.now()) throw gone;
    const browser = browserId(state);
    if (browser === undefined || !safeEqual(sha256(browser), record.browserHash)) {
      throw new RequestError(
        'FormCsrfInvalid',
        'this sign-in was started in another browser; start again from the application',
      );
    }
    const { provider, nonce, codeVerifier, interactionId } = record.request;
    state.provider = federationOf(state).get(String(provider));
    if (state.provider === undefined) throw gone;
    state.started = {
      nonce: String(nonce),
      codeVerifier: String(codeVerifier),
      interactionId: typeof interactionId === 'string' ? interactionId : undefined,
    };
    return undefined;
  }),
  step('exchange the code and check the person', async (state) => {
    state.signedIn = await need(state.provider, 'provider').finish(
      state.url.searchParams,
      need(state.started, 'sign-in'),
    );
    return undefined;
  }),
  step('claim rules grant some scope', async (state) => {
    const provider = need(state.provider, 'provider');
    const signedIn = need(state.signedIn, 'person');
    state.subject = federatedSubject(signedIn.issuer, signedIn.providerSubject);
    const permitted = scopesPermitted(
      provider.config.claim_rules,
      signedIn.claims,
      state.services.settings.allowedScopes,
    );
    if (permitted.length === 0) {
      throw new RequestError(
        'FederationNotPermitted',
        `you signed in at ${provider.displayName}, but your account is not allowed to use this service; ask its operator for access`,
      );
    }
    const { store, now } = state.services;
    const existing = await store.getUser(state.subject);
    if (existing?.disabled) {
      throw new RequestError('FederationNotPermitted', 'this account is disabled here');
    }
    const at = now();
    if (existing === undefined) {
      // No password can ever match this record (verifyPassword accepts scrypt hashes only).
      await store.putUser({
        username: state.subject,
        passwordHash: `federated$${provider.name}`,
        disabled: false,
        createdAt: at,
        updatedAt: at,
      });
    }
    const federation = federationOf(state);
    await store.putFederatedIdentity({
      subject: state.subject,
      provider: provider.name,
      issuer: signedIn.issuer,
      providerSubject: signedIn.providerSubject,
      label: labelOf(signedIn.claims),
      allowedScopes: permitted,
      sealedTokens: federation.keepsTokensOf(provider.name)
        ? federation.vault?.seal(state.subject, signedIn.tokens)
        : undefined,
      updatedAt: at,
    });
    return undefined;
  }),
  step('start the session', async (state) => {
    const subject = need(state.subject, 'subject');
    await startSession(state, subject, state.responseHeaders);
    audit(state, { event: 'oauth.login.succeeded', decision: 'allow', subject });
    return seeOther(nextPath(state.started?.interactionId));
  }),
];

/** GET /oauth/idp/callback: where every provider sends the person back. */
export const federationCallbackEndpoint: Endpoint<CallbackState> = {
  name: 'identity provider callback',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: () => CALLBACK,
  refused: (state, error) => {
    audit(state, {
      event: 'oauth.login.failed',
      decision: 'deny',
      reason: error.code,
      subject: state.subject,
    });
    return undefined;
  },
};
