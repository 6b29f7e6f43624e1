import { RequestError } from '../../errors/index.ts';
import { required } from '../checks/parameters.ts';
import { asRequestError, jsonError } from '../errors.ts';
import { CORS_HEADERS, emptyResponse, NO_STORE } from '../http.ts';
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
export async function revokeEndpoint(exchange: Exchange): Promise<Response> {
  const { services } = exchange;
  try {
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
    return emptyResponse(200, { ...NO_STORE, ...CORS_HEADERS });
  } catch (error) {
    const known = asRequestError(error);
    if (known.status >= 500) services.logger?.error({ err: error }, 'revocation endpoint failed');
    return jsonError(known, { realm: services.settings.issuer, headers: CORS_HEADERS });
  }
}
