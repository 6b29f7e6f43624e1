import { RequestError } from '../../errors/index.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import { required } from '../checks/parameters.ts';
import { isConfidential } from '../clients/client.ts';
import type { Endpoint } from '../endpoint.ts';
import { jsonReply, NO_STORE } from '../http.ts';
import { step } from '../pipeline.ts';
import type { Exchange } from '../services.ts';
import { findToken } from '../token-lookup.ts';
import { readAuthenticatedForm } from './client-authenticated.ts';

const INACTIVE = { active: false } as const;

/**
 * POST /oauth/introspect (RFC 7662). The caller must authenticate as a confidential client
 * (§2.1). A pre-registered confidential client (a resource server the operator configured) may
 * introspect any token; a dynamically registered one only its own. Whatever is not an active
 * token this caller may see is exactly `{"active": false}` (§2.2).
 */
async function introspect(exchange: Exchange): Promise<HttpAnswer> {
  const { services } = exchange;
  const { form, client } = await readAuthenticatedForm(exchange);
  if (!isConfidential(client)) {
    throw new RequestError('OAuthInvalidClient', 'introspection requires client authentication');
  }
  const token = required(form, 'token');
  const found = await findToken(services, token, { allowExpired: false });
  const visible =
    found?.active && (client.kind === 'pre-registered' || found.clientId === client.clientId);
  if (!visible) return jsonReply(200, INACTIVE, NO_STORE);
  const body =
    found.kind === 'access_token'
      ? {
          active: true,
          token_type: 'Bearer',
          scope: found.claims.scope,
          client_id: found.clientId,
          sub: found.claims.sub,
          aud: found.claims.aud,
          iss: found.claims.iss,
          exp: found.claims.exp,
          iat: found.claims.iat,
          jti: found.claims.jti,
        }
      : {
          active: true,
          token_type: 'refresh_token',
          scope: found.record.scopes.join(' '),
          client_id: found.clientId,
          sub: found.record.subject,
          aud: found.record.resource,
          iss: services.settings.issuer,
          exp: Math.floor(found.record.expiresAt / 1000),
          iat: Math.floor(found.record.issuedAt / 1000),
        };
  return jsonReply(200, body, NO_STORE);
}

export const introspectEndpoint: Endpoint = {
  name: 'introspection endpoint',
  errors: 'oauth',
  challenge: 'basic',
  cors: false,
  begin: (exchange) => exchange,
  steps: () => [step('introspect', introspect)],
};
