import { RequestError } from '../../errors/index.ts';
import {
  checkClientAuthentication,
  type PresentedClient,
  presentedClient,
} from '../checks/client-authentication.ts';
import { type Params, readForm, required } from '../checks/parameters.ts';
import type { Client } from '../clients/client.ts';
import { DEVICE_CODE_GRANT } from '../device.ts';
import type { Endpoint } from '../endpoint.ts';
import { redeemAuthorizationCode } from '../grants/authorization-code.ts';
import { clientCredentials } from '../grants/client-credentials.ts';
import { redeemDeviceCode } from '../grants/device-code.ts';
import { refreshTokens } from '../grants/refresh-token.ts';
import { jsonTextReply, NO_STORE } from '../http.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { LIMITS } from '../settings.ts';

interface State extends Exchange {
  form?: Params;
  presented?: PresentedClient;
  client?: Client;
  grantType?: string;
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`token: ${what} missing`);
  return value;
};

/** A grant's token response, serialized (RFC 6749 §5.1). */
type Grant = (exchange: Exchange, client: Client, form: Params) => Promise<string>;

const GRANTS: Readonly<Record<string, Grant>> = {
  authorization_code: redeemAuthorizationCode,
  refresh_token: refreshTokens,
  client_credentials: clientCredentials,
  [DEVICE_CODE_GRANT]: redeemDeviceCode,
};

/** POST /oauth/token (RFC 6749 §3.2). */
const STEPS: readonly Step<State>[] = [
  step('form body, single-valued', async (state) => {
    state.form = await readForm(state.request, LIMITS.formMaxBytes);
    return undefined;
  }),
  step('client authenticates', async (state) => {
    state.presented = presentedClient(state.request, need(state.form, 'form'));
    const client = await state.services.clients.resolve(state.presented.clientId);
    state.client = checkClientAuthentication(client, state.presented);
    return undefined;
  }),
  step('grant type is supported and allowed', (state) => {
    const grantType = required(need(state.form, 'form'), 'grant_type');
    state.grantType = grantType;
    if (GRANTS[grantType] === undefined) {
      throw new RequestError('OAuthUnsupportedGrantType', 'unsupported grant_type');
    }
    if (!need(state.client, 'client').grantTypes.includes(grantType)) {
      throw new RequestError('OAuthUnauthorizedClient', `this client may not use ${grantType}`);
    }
    return undefined;
  }),
  step('issue', async (state) => {
    const grant = need(GRANTS[need(state.grantType, 'grant type')], 'grant');
    const tokens = await grant(state, need(state.client, 'client'), need(state.form, 'form'));
    return jsonTextReply(200, tokens, NO_STORE);
  }),
];

export const tokenEndpoint: Endpoint<State> = {
  name: 'token endpoint',
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
      grant_type: state.grantType,
      client_id: state.client?.clientId ?? state.presented?.clientId,
    });
    return undefined;
  },
};
