import { createPrivateKey } from 'node:crypto';
import {
  type AddClientAuthentication,
  exchangeAuthorization,
  fetchToken,
  type OAuthClientProvider,
  refreshAuthorization,
  selectClientAuthMethod,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { createPrivateKeyJwtAuth } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { OAuthError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import {
  type OAuthClientInformation,
  type OAuthTokens,
  OAuthTokensSchema,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { ClientError, isRequestError } from '../errors/index.ts';
import type { AuthorizationServerMetadata, Discovery } from './discovery.ts';
import type { GuardedFetch, StoredClient } from './types.ts';

/** A private key for `private_key_jwt` client authentication (RFC 7523 §2.2). */
export interface PrivateKeyOption {
  /** PKCS#8 PEM. */
  readonly pem: string;
  /** JWS algorithm; inferred from the key when omitted (EC P-256 → ES256, RSA → RS256, Ed25519 → EdDSA). */
  readonly alg?: string;
}

export interface TokenContext {
  readonly discovery: Discovery;
  readonly client: StoredClient;
  readonly fetch: GuardedFetch;
  readonly privateKey?: PrivateKeyOption;
  /** `false` (`--no-resource-parameter`): leave RFC 8707 `resource` out of token requests. */
  readonly resourceParameter?: boolean;
}

/**
 * The RFC 8707 `resource` to send, or nothing when the user turned it off for an authorization
 * server that rejects it (Microsoft Entra ID answers AADSTS9010010). MCP requires it; without
 * it the token is not audience-bound to this server, which docs/client.md spells out.
 */
export function resourceParameter(
  discovery: Discovery,
  send: boolean | undefined,
): string | undefined {
  return send === false ? undefined : discovery.resource;
}

/**
 * Token requests, reusing the MCP SDK's request builders (they send `resource`, pick
 * client_secret_basic / client_secret_post / none from the metadata, and parse errors); this
 * module adds private_key_jwt, wraps failures in ClientError, and never lets a redirect be
 * followed (the guarded fetch refuses them).
 */
export async function exchangeCode(
  context: TokenContext,
  request: { code: string; codeVerifier: string; redirectUri: string },
): Promise<OAuthTokens> {
  return translate('authorization code exchange', context, async () =>
    exchangeAuthorization(context.discovery.issuer, {
      metadata: sdkMetadata(context.discovery.metadata),
      clientInformation: clientInformation(context.client),
      authorizationCode: request.code,
      codeVerifier: request.codeVerifier,
      redirectUri: request.redirectUri,
      ...resourceOption(context),
      addClientAuthentication: await clientAuthentication(context),
      fetchFn: context.fetch,
    }),
  );
}

export async function refreshTokens(
  context: TokenContext,
  refreshToken: string,
): Promise<OAuthTokens> {
  return translate('refresh', context, async () =>
    refreshAuthorization(context.discovery.issuer, {
      metadata: sdkMetadata(context.discovery.metadata),
      clientInformation: clientInformation(context.client),
      refreshToken,
      ...resourceOption(context),
      addClientAuthentication: await clientAuthentication(context),
      fetchFn: context.fetch,
    }),
  );
}

/** OAuth 2.1 §4.2 client credentials grant, through the SDK's `fetchToken`. */
export async function clientCredentialsToken(
  context: TokenContext,
  scope: string | undefined,
): Promise<OAuthTokens> {
  const addClientAuthentication = await clientAuthentication(context);
  const info = clientInformation(context.client);
  const provider: OAuthClientProvider = {
    redirectUrl: undefined,
    clientMetadata: { redirect_uris: [], grant_types: ['client_credentials'] },
    clientInformation: () => info,
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: () => {
      throw new Error('client_credentials has no authorization step');
    },
    saveCodeVerifier: () => undefined,
    codeVerifier: () => {
      throw new Error('client_credentials has no code verifier');
    },
    prepareTokenRequest: () => {
      const params = new URLSearchParams({ grant_type: 'client_credentials' });
      if (scope) params.set('scope', scope);
      return params;
    },
    ...(addClientAuthentication ? { addClientAuthentication } : {}),
  };
  return translate('client credentials grant', context, () =>
    fetchToken(provider, context.discovery.issuer, {
      metadata: sdkMetadata(context.discovery.metadata),
      ...resourceOption(context),
      fetchFn: context.fetch,
    }),
  );
}

function resourceOption(context: TokenContext): { resource?: string } {
  const resource = resourceParameter(context.discovery, context.resourceParameter);
  return resource === undefined ? {} : { resource };
}

/**
 * RFC 7009 revocation, authenticated like a token request. Resolves to false when the server
 * offers no revocation endpoint; a refusal is an error.
 */
export async function revokeToken(
  context: TokenContext,
  token: string,
  hint: 'access_token' | 'refresh_token',
): Promise<boolean> {
  const endpoint = context.discovery.metadata.revocation_endpoint;
  if (typeof endpoint !== 'string') return false;
  const headers = new Headers({
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  });
  const params = new URLSearchParams({ token, token_type_hint: hint });
  await authenticateAt(context, endpoint, headers, params, [
    ...((context.discovery.metadata.revocation_endpoint_auth_methods_supported as
      | string[]
      | undefined) ??
      context.discovery.metadata.token_endpoint_auth_methods_supported ??
      []),
  ]);
  let response: Response;
  try {
    response = await context.fetch(endpoint, { method: 'POST', headers, body: params.toString() });
  } catch (error) {
    throw wrap('revocation', context, error);
  }
  if (response.status !== 200) {
    throw new ClientError(
      'ClientTokenRequestFailed',
      `revocation at ${context.discovery.issuer} answered ${response.status}`,
    );
  }
  return true;
}

/**
 * Client authentication for a request to an endpoint other than the token endpoint (revocation,
 * device authorization), the way the token endpoint gets it: private_key_jwt, else
 * client_secret_basic / client_secret_post, else the client_id alone (a public client).
 */
async function authenticateAt(
  context: TokenContext,
  endpoint: string,
  headers: Headers,
  params: URLSearchParams,
  supported: string[],
): Promise<void> {
  const custom = await clientAuthentication(context);
  if (custom) {
    await custom(headers, params, endpoint, sdkMetadata(context.discovery.metadata));
    return;
  }
  const info = clientInformation(context.client);
  const method = selectClientAuthMethod(info, supported);
  if (method === 'client_secret_basic' && info.client_secret) {
    // RFC 6749 §2.3.1: form-encode id and secret before base64.
    const pair = `${formEncode(info.client_id)}:${formEncode(info.client_secret)}`;
    headers.set('authorization', `Basic ${Buffer.from(pair).toString('base64')}`);
    return;
  }
  params.set('client_id', info.client_id);
  if (method === 'client_secret_post' && info.client_secret) {
    params.set('client_secret', info.client_secret);
  }
}

/** RFC 8628 §3.4: the device_code grant type. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8628 §3.2 device authorization response. */
export interface DeviceAuthorization {
  readonly device_code: string;
  readonly user_code: string;
  readonly verification_uri: string;
  readonly verification_uri_complete?: string;
  /** Seconds. */
  readonly expires_in: number;
  /** Seconds between polls; RFC 8628 §3.2: 5 when absent. */
  readonly interval?: number;
}

/**
 * RFC 8628 §3.1 device authorization request, authenticated like a token request, with the
 * RFC 8707 `resource` (MCP requires it on every authorization request).
 */
export async function requestDeviceAuthorization(
  context: TokenContext,
  scope: string | undefined,
): Promise<DeviceAuthorization> {
  const endpoint = context.discovery.metadata.device_authorization_endpoint;
  if (typeof endpoint !== 'string') {
    throw new ClientError(
      'ClientAuthorizationFailed',
      `${context.discovery.issuer} does not offer the device authorization grant (no device_authorization_endpoint in its metadata)`,
      { fix: 'sign in with a browser: portcullis login URL (without --device)' },
    );
  }
  const headers = new Headers({
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  });
  const params = new URLSearchParams();
  if (scope) params.set('scope', scope);
  const resource = resourceParameter(context.discovery, context.resourceParameter);
  if (resource !== undefined) params.set('resource', resource);
  await authenticateAt(context, endpoint, headers, params, [
    ...(context.discovery.metadata.token_endpoint_auth_methods_supported ?? []),
  ]);
  let response: Response;
  try {
    response = await context.fetch(endpoint, { method: 'POST', headers, body: params.toString() });
  } catch (error) {
    throw wrap('device authorization', context, error);
  }
  const body = (await response.json().catch(() => undefined)) as
    | Partial<DeviceAuthorization & { error: string; error_description: string }>
    | undefined;
  if (response.status !== 200 || body === undefined) {
    throw new ClientError(
      'ClientAuthorizationFailed',
      `device authorization at ${context.discovery.issuer} answered ${response.status}${body?.error ? ` ${printable(body.error)}` : ''}${body?.error_description ? ` (${printable(body.error_description)})` : ''}`,
    );
  }
  const valid =
    typeof body.device_code === 'string' &&
    typeof body.user_code === 'string' &&
    typeof body.verification_uri === 'string' &&
    URL.canParse(body.verification_uri) &&
    typeof body.expires_in === 'number' &&
    body.expires_in > 0 &&
    (body.interval === undefined || (typeof body.interval === 'number' && body.interval >= 0));
  if (!valid) {
    throw new ClientError(
      'ClientAuthorizationFailed',
      `device authorization at ${context.discovery.issuer} answered without device_code, user_code, verification_uri and expires_in (RFC 8628 §3.2)`,
    );
  }
  return body as DeviceAuthorization;
}

/** The answer to one device-code token request: tokens, or the RFC 8628 §3.5 error code. */
export type DeviceTokenAnswer =
  | { readonly tokens: OAuthTokens }
  | { readonly error: string; readonly description?: string };

/**
 * One RFC 8628 §3.4 token request for a device code, authenticated like any token request.
 * Written out rather than through the SDK's `fetchToken`, which folds the polling errors
 * (authorization_pending, slow_down, expired_token) into a generic server_error.
 */
export async function deviceCodeToken(
  context: TokenContext,
  deviceCode: string,
): Promise<DeviceTokenAnswer> {
  const endpoint = context.discovery.metadata.token_endpoint;
  const headers = new Headers({
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  });
  const params = new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: deviceCode });
  const resource = resourceParameter(context.discovery, context.resourceParameter);
  if (resource !== undefined) params.set('resource', resource);
  await authenticateAt(context, endpoint, headers, params, [
    ...(context.discovery.metadata.token_endpoint_auth_methods_supported ?? []),
  ]);
  let response: Response;
  try {
    response = await context.fetch(endpoint, { method: 'POST', headers, body: params.toString() });
  } catch (error) {
    throw wrap('device code grant', context, error);
  }
  const body = (await response.json().catch(() => undefined)) as
    | Record<string, unknown>
    | undefined;
  if (response.status === 200) {
    const parsed = OAuthTokensSchema.safeParse(body);
    if (!parsed.success) {
      throw new ClientError(
        'ClientTokenRequestFailed',
        `device code grant at ${context.discovery.issuer} answered an invalid token response`,
      );
    }
    return { tokens: parsed.data };
  }
  if (typeof body?.error === 'string') {
    return {
      error: printable(body.error),
      ...(typeof body.error_description === 'string'
        ? { description: printable(body.error_description) }
        : {}),
    };
  }
  throw new ClientError(
    'ClientTokenRequestFailed',
    `device code grant at ${context.discovery.issuer} answered ${response.status}`,
  );
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function clientInformation(client: StoredClient): OAuthClientInformation & {
  token_endpoint_auth_method?: string;
} {
  return {
    client_id: client.client_id,
    ...(client.client_secret === undefined ? {} : { client_secret: client.client_secret }),
    ...(client.token_endpoint_auth_method === undefined
      ? {}
      : { token_endpoint_auth_method: client.token_endpoint_auth_method }),
  };
}

/** The SDK's metadata type; ours is the same document with unknown members kept. */
function sdkMetadata(
  metadata: AuthorizationServerMetadata,
): Parameters<typeof exchangeAuthorization>[1]['metadata'] {
  return metadata as unknown as Parameters<typeof exchangeAuthorization>[1]['metadata'];
}

async function clientAuthentication(
  context: TokenContext,
): Promise<AddClientAuthentication | undefined> {
  if (!context.privateKey) return undefined;
  const supported = context.discovery.metadata.token_endpoint_auth_methods_supported;
  if (supported && !supported.includes('private_key_jwt')) {
    throw new ClientError(
      'ClientTokenRequestFailed',
      `${context.discovery.issuer} does not accept private_key_jwt client authentication (it offers ${supported.join(', ')})`,
      { fix: 'use --client-secret-env instead of a private key' },
    );
  }
  const alg = signingAlgorithm(context.privateKey, context.discovery.metadata);
  return createPrivateKeyJwtAuth({
    issuer: context.client.client_id,
    subject: context.client.client_id,
    privateKey: context.privateKey.pem,
    alg,
    // RFC 7523 §3: the audience is the authorization server; its issuer identifies it.
    audience: context.discovery.metadata.issuer,
    lifetimeSeconds: 60,
  });
}

/** The JWS algorithm for a private key: given, else inferred from the key and the metadata. */
export function signingAlgorithm(
  key: PrivateKeyOption,
  metadata: AuthorizationServerMetadata,
): string {
  const supported = metadata.token_endpoint_auth_signing_alg_values_supported;
  let alg = key.alg;
  if (alg === undefined) {
    let parsed: ReturnType<typeof createPrivateKey>;
    try {
      parsed = createPrivateKey(key.pem);
    } catch (error) {
      throw new ClientError(
        'ClientTokenRequestFailed',
        'the private key is not a PEM private key',
        {
          fix: 'give a private key in PKCS#8 PEM form (as openssl genpkey writes it)',
          cause: error,
        },
      );
    }
    const type = parsed.asymmetricKeyType;
    const curve = parsed.asymmetricKeyDetails?.namedCurve;
    if (type === 'ec') {
      alg = curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256';
    } else if (type === 'ed25519') {
      alg = 'EdDSA';
    } else if (type === 'rsa' || type === 'rsa-pss') {
      alg =
        supported && !supported.includes('RS256') && supported.includes('PS256')
          ? 'PS256'
          : 'RS256';
    } else {
      throw new ClientError(
        'ClientTokenRequestFailed',
        `unsupported private key type ${type ?? '?'}`,
      );
    }
  }
  if (supported && !supported.includes(alg)) {
    throw new ClientError(
      'ClientTokenRequestFailed',
      `${metadata.issuer} does not accept ${alg} client assertions (it accepts ${supported.join(', ')})`,
      { fix: 'use a key of a type the authorization server accepts, or set the algorithm' },
    );
  }
  return alg;
}

async function translate<T>(
  what: string,
  context: TokenContext,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw wrap(what, context, error);
  }
}

/** OAuth error code of a failed token request, when the server gave one. */
export function oauthErrorCode(error: unknown): string | undefined {
  if (error instanceof ClientError && error.cause instanceof OAuthError)
    return error.cause.errorCode;
  if (error instanceof OAuthError) return error.errorCode;
  return undefined;
}

function wrap(what: string, context: TokenContext, error: unknown): Error {
  if (error instanceof ClientError || isRequestError(error)) return error;
  if (error instanceof OAuthError) {
    return new ClientError(
      'ClientTokenRequestFailed',
      `${what} at ${context.discovery.issuer} failed: ${error.errorCode}${error.message ? ` (${printable(error.message)})` : ''}`,
      {
        cause: error,
        ...(error.errorCode === 'invalid_client'
          ? { fix: 'check --client-id and the client secret or key' }
          : {}),
      },
    );
  }
  return new ClientError(
    'ClientTokenRequestFailed',
    `${what} at ${context.discovery.issuer} failed: ${printable((error as Error).message ?? String(error))}`,
    { cause: error },
  );
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}
