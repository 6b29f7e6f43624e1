import type { HttpAnswer } from '../../lib/http-answer.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import { randomToken, sha256 } from '../crypto.ts';
import { deviceStateFrom, normalizeUserCode, userCodeRecordId } from '../device.ts';
import type { Endpoint } from '../endpoint.ts';
import { seeOther } from '../http.ts';
import { type PendingAuthorization, pendingToJson } from '../pending-authorization.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { devicePage } from '../views/pages.ts';

interface State extends Exchange {
  form?: Params;
}

const PURPOSE = 'device';

function page(
  state: State,
  extra: { userCode?: string; error?: string; status?: number },
): HttpAnswer {
  const browser = ensureBrowserId(state, state.responseHeaders);
  return devicePage({ action: PATHS.device, csrf: csrfToken(browser, PURPOSE), ...extra });
}

const SHOW: readonly Step<State>[] = [
  step('show the code form', (state) => {
    const prefilled = state.url.searchParams.get('user_code') ?? undefined;
    return page(state, prefilled === undefined ? {} : { userCode: prefilled.slice(0, 20) });
  }),
];

const WRONG = 'That code is not valid: it may be mistyped, expired or already used.';

/**
 * POST /oauth/device: the code names a waiting device request (RFC 8628 §3.3). It is taken, so
 * it can be entered once; the request then continues as a sign-in like any other, bound to this
 * browser: the login page if needed, then the consent page, whose decision goes to the device.
 */
const SUBMIT: readonly Step<State>[] = [
  step('read the form', async (state) => {
    state.form = await readForm(state.request, LIMITS.formMaxBytes);
    return undefined;
  }),
  step('CSRF token fits this browser', (state) => {
    checkCsrf(state, state.form ?? new Map(), PURPOSE);
    return undefined;
  }),
  step('the code names a waiting request', async (state) => {
    const typed = state.form?.get('user_code') ?? '';
    const { store } = state.services;
    const now = state.services.now();
    const wrong = () => {
      audit(state, {
        event: 'oauth.authorization.denied',
        decision: 'deny',
        reason: 'DeviceCodeInvalid',
      });
      return page(state, { userCode: typed.slice(0, 20), error: WRONG, status: 400 });
    };
    if (normalizeUserCode(typed).length !== 8) return wrong();
    const pointer = await store.takeInteraction(userCodeRecordId(typed));
    const deviceId =
      typeof pointer?.request.deviceId === 'string' ? pointer.request.deviceId : undefined;
    if (pointer === undefined || deviceId === undefined || pointer.expiresAt <= now) return wrong();
    const record = await store.getInteraction(deviceId);
    const device = record === undefined ? undefined : deviceStateFrom(record.request);
    if (
      record === undefined ||
      device === undefined ||
      device.status !== 'pending' ||
      record.expiresAt <= now
    ) {
      return wrong();
    }
    const pending: PendingAuthorization = {
      clientId: device.clientId,
      redirectUri: '',
      state: undefined,
      scopes: device.scopes,
      resource: device.resource,
      codeChallenge: '',
      deviceId,
    };
    const browser = ensureBrowserId(state, state.responseHeaders);
    const id = randomToken(24);
    await store.putInteraction({
      id,
      browserHash: sha256(browser),
      request: pendingToJson(pending),
      createdAt: now,
      expiresAt: Math.min(record.expiresAt, now + LIMITS.interactionTtlMs),
    });
    const next = (await currentSession(state)) === undefined ? PATHS.login : PATHS.consent;
    return seeOther(`${next}?interaction=${id}`);
  }),
];

/** GET /oauth/device: the code form (prefilled from `user_code`). POST: enter the code. */
export const deviceEndpoint: Endpoint<State> = {
  name: 'device page',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: (state) => (state.request.method === 'POST' ? SUBMIT : SHOW),
};
