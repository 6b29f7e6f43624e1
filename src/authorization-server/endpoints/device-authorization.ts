import { RequestError } from '../../errors/index.ts';
import {
  checkClientAuthentication,
  type PresentedClient,
  presentedClient,
} from '../checks/client-authentication.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import { checkResource } from '../checks/resource.ts';
import { checkScopesWithin, parseScope } from '../checks/scope.ts';
import type { Client } from '../clients/client.ts';
import { randomToken } from '../crypto.ts';
import {
  DEVICE_CODE_GRANT,
  deviceRecordId,
  newUserCode,
  putDeviceState,
  userCodeRecordId,
} from '../device.ts';
import type { Endpoint } from '../endpoint.ts';
import { jsonReply, NO_STORE } from '../http.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { LIMITS } from '../settings.ts';

interface State extends Exchange {
  form?: Params;
  presented?: PresentedClient;
  client?: Client;
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`device authorization: ${what} missing`);
  return value;
};

/**
 * POST /oauth/device_authorization (RFC 8628 §3.1, §3.2): a client that lists the device grant
 * authenticates as at the token endpoint and names the resource (RFC 8707, as MCP requires) and
 * the scopes; it gets a device code to poll with and a user code for the person to enter at
 * /oauth/device. Neither code is stored in clear.
 */
const STEPS: readonly Step<State>[] = [
  step('form body, single-valued', async (state) => {
    state.form = await readForm(state.request, LIMITS.formMaxBytes);
    return undefined;
  }),
  step('client authenticates', async (state) => {
    state.presented = presentedClient(state.request, need(state.form, 'form'));
    const client = await state.services.clients.resolve(state.presented.clientId);
    state.client = checkClientAuthentication(client, state.presented);
    if (!state.client.grantTypes.includes(DEVICE_CODE_GRANT)) {
      throw new RequestError(
        'OAuthUnauthorizedClient',
        'this client may not use the device authorization grant',
      );
    }
    return undefined;
  }),
  step('issue the codes', async (state) => {
    const form = need(state.form, 'form');
    const client = need(state.client, 'client');
    const { services } = state;
    const resource = checkResource(form.get('resource'), services.settings.resources);
    const scopes = checkScopesWithin(
      parseScope(form.get('scope')),
      client.scopes,
      "the client's scopes",
    );
    const deviceCode = randomToken(32);
    const userCode = newUserCode();
    const now = services.now();
    const expiresAt = now + LIMITS.deviceCodeTtlMs;
    await putDeviceState(
      services.store,
      deviceRecordId(deviceCode),
      {
        clientId: client.clientId,
        scopes,
        resource,
        status: 'pending',
        interval: LIMITS.devicePollIntervalS,
      },
      now,
      expiresAt,
    );
    await services.store.putInteraction({
      id: userCodeRecordId(userCode),
      browserHash: '',
      request: { deviceId: deviceRecordId(deviceCode) },
      createdAt: now,
      expiresAt,
    });
    const page = services.settings.urls.device;
    return jsonReply(
      200,
      {
        device_code: deviceCode,
        user_code: userCode,
        verification_uri: page,
        verification_uri_complete: `${page}?user_code=${encodeURIComponent(userCode)}`,
        expires_in: Math.round(LIMITS.deviceCodeTtlMs / 1000),
        interval: LIMITS.devicePollIntervalS,
      },
      NO_STORE,
    );
  }),
];

export const deviceAuthorizationEndpoint: Endpoint<State> = {
  name: 'device authorization endpoint',
  errors: 'oauth',
  challenge: 'basic',
  cors: true,
  begin: (exchange) => ({ ...exchange }),
  steps: () => STEPS,
  refused(state, error) {
    audit(state, {
      event: 'oauth.token.refused',
      decision: error.status >= 500 ? 'error' : 'deny',
      reason: error.code,
      status: error.status,
      grant_type: DEVICE_CODE_GRANT,
      client_id: state.client?.clientId ?? state.presented?.clientId,
    });
    return undefined;
  },
};
