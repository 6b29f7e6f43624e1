import { DEVICE_CODE_GRANT } from '../device.ts';
import type { Endpoint } from '../endpoint.ts';
import { jsonReply } from '../http.ts';
import { step } from '../pipeline.ts';
import type { Services } from '../services.ts';

/**
 * The authorization server metadata (RFC 8414 §2), served identically as the OpenID Connect
 * discovery document. `issuer` is the configured issuer, character for character (§3.3).
 */
export function metadataDocument(services: Services): Record<string, unknown> {
  const { settings } = services;
  return {
    issuer: settings.issuer,
    authorization_endpoint: settings.urls.authorization,
    token_endpoint: settings.urls.token,
    jwks_uri: settings.urls.jwks,
    ...(settings.dynamicRegistration === 'off'
      ? {}
      : { registration_endpoint: settings.urls.registration }),
    revocation_endpoint: settings.urls.revocation,
    introspection_endpoint: settings.urls.introspection,
    scopes_supported: settings.allowedScopes,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [
      'authorization_code',
      'refresh_token',
      'client_credentials',
      DEVICE_CODE_GRANT,
    ],
    device_authorization_endpoint: settings.urls.deviceAuthorization,
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: [
      'none',
      'client_secret_basic',
      'client_secret_post',
    ],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    client_id_metadata_document_supported: settings.clientIdMetadataDocuments,
    authorization_response_iss_parameter_supported: true,
    subject_types_supported: ['public'],
    ui_locales_supported: ['en'],
  };
}

const PUBLIC_CACHE = { 'cache-control': 'public, max-age=300' };

/** GET the RFC 8414 / OpenID Connect discovery document. */
export const metadataEndpoint: Endpoint = {
  name: 'metadata endpoint',
  errors: 'oauth',
  cors: true,
  begin: (exchange) => exchange,
  steps: () => [
    step('metadata', (exchange) =>
      jsonReply(200, metadataDocument(exchange.services), PUBLIC_CACHE),
    ),
  ],
};

/** GET /oauth/jwks: the public keys, including a next key published ahead of its first use. */
export const jwksEndpoint: Endpoint = {
  name: 'jwks endpoint',
  errors: 'oauth',
  cors: true,
  begin: (exchange) => exchange,
  steps: () => [
    step('public keys', async (exchange) =>
      jsonReply(200, await exchange.services.keys.publicKeySet(), PUBLIC_CACHE),
    ),
  ],
};
