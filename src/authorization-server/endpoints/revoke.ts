import { RequestError } from '../../errors/index.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import { required } from '../checks/parameters.ts';
import type { Endpoint } from '../endpoint.ts';
import { emptyReply, NO_STORE } from '../http.ts';
import { step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { findToken } from '../token-lookup.ts';
import { tokenIdHash } from '../tokens.ts';
import { readAuthenticatedForm } from './client-authenticated.ts';

/**
 * POST /oauth/revoke (RFC 7009). Confidential clients authenticate; public clients name
 * themselves with client_id. A token that is unknown, garbage or already inactive gets 200
 * (§2.2: no oracle). A token of another client is refused and left alone (§2.1). Revoking a
 * refresh token revokes its whole family; revoking an access token revokes that token, and the
 * gateway stops accepting its `jti` at once.
 */
async function revoke(exchange: Exchange): Promise<HttpAnswer> {
  const { services } = exchange;
  const { form, client } = await readAuthenticatedForm(exchange);
  const token = required(form, 'token');
  const found = await findToken(services, token, { allowExpired: true });
  if (found !== undefined) {
    if (found.clientId !== client.clientId) {
      throw new RequestError('OAuthUnauthorizedClient', 'the token was issued to another client');
    }
    const now = services.now();
    if (found.kind === 'refresh_token') {
      await services.store.revokeGrant(found.record.grantId, now);
    } else {
      await services.store.revokeAccessToken(found.record.jti, now);
    }
    audit(exchange, {
      event: 'oauth.token.revoked',
      decision: 'allow',
      client_id: client.clientId,
      subject: found.kind === 'refresh_token' ? found.record.subject : found.claims.sub,
      ...(found.kind === 'access_token'
        ? { token_id_hash: tokenIdHash(services, found.record.jti) }
        : {}),
    });
  }
  return emptyReply(200, NO_STORE);
}

export const revokeEndpoint: Endpoint = {
  name: 'revocation endpoint',
  errors: 'oauth',
  challenge: 'basic',
  cors: true,
  begin: (exchange) => exchange,
  steps: () => [step('revoke', revoke)],
};
