import { RequestError } from '../../errors/index.ts';
import type { GrantRecord } from '../../store/index.ts';
import type { Params } from '../checks/parameters.ts';
import { checkResource } from '../checks/resource.ts';
import { checkScopesWithin, parseScope } from '../checks/scope.ts';
import { type Client, isConfidential } from '../clients/client.ts';
import { randomToken } from '../crypto.ts';
import { audit, type Exchange } from '../services.ts';
import { mintAccessToken, tokenIdHash, tokenResponseText } from '../tokens.ts';

/**
 * The client_credentials grant (RFC 6749 §4.4), machine to machine: only pre-registered
 * confidential clients that list it, for one of the gateway's resources. The token's subject is
 * the client itself; there is no refresh token.
 */
export async function clientCredentials(
  exchange: Exchange,
  client: Client,
  form: Params,
): Promise<string> {
  const { services } = exchange;
  if (!isConfidential(client) || client.kind !== 'pre-registered') {
    throw new RequestError(
      'OAuthUnauthorizedClient',
      'client_credentials is only for pre-registered confidential clients',
    );
  }
  const resource = checkResource(form.get('resource'), services.settings.resources);
  const scopes = checkScopesWithin(
    parseScope(form.get('scope')),
    client.scopes,
    "the client's scopes",
  );
  const now = services.now();
  const grant: GrantRecord = {
    grantId: randomToken(16),
    kind: 'client_credentials',
    subject: client.clientId,
    clientId: client.clientId,
    resource,
    scopes,
    createdAt: now,
    expiresAt: now + services.settings.accessTokenTtlMs,
    revokedAt: undefined,
  };
  await services.store.putGrant(grant);
  const access = await mintAccessToken(services, grant, scopes, now);
  await services.store.putAccessToken(access.record);
  audit(exchange, {
    event: 'oauth.token.issued',
    decision: 'allow',
    grant_type: 'client_credentials',
    subject: grant.subject,
    client_id: client.clientId,
    resource,
    granted_scopes: scopes,
    token_id_hash: tokenIdHash(services, access.record.jti),
  });
  return tokenResponseText(access, scopes, undefined);
}
