import { RequestError } from '../../errors/index.ts';
import type { Params } from '../checks/parameters.ts';
import { required } from '../checks/parameters.ts';
import { checkSameResource } from '../checks/resource.ts';
import { checkScopesWithin, parseScope } from '../checks/scope.ts';
import type { Client } from '../clients/client.ts';
import { openGraceBlob, sealForGrace, sha256 } from '../crypto.ts';
import { audit, type Exchange } from '../services.ts';
import { mintAccessToken, mintRefreshToken, tokenIdHash, tokenResponseText } from '../tokens.ts';

const invalidGrant = (message: string) => new RequestError('OAuthInvalidGrant', message);

/**
 * The refresh_token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2):
 * - every use returns a new refresh token; the old one is marked rotated, atomically;
 * - a retry with the just-rotated token within the grace window (default 10 s) gets the same
 *   successor pair, provided the successor is unused: a lost response must not log the user
 *   out. The pair is stored only sealed under the old token (crypto.ts);
 * - any other reuse of a rotated token revokes the whole family;
 * - a narrower scope narrows the new access token only; the family keeps its scope.
 */
export async function refreshTokens(
  exchange: Exchange,
  client: Client,
  form: Params,
): Promise<string> {
  const { services } = exchange;
  const presented = required(form, 'refresh_token');
  const requestedScopes = parseScope(form.get('scope'));
  const requestedResource = form.get('resource');
  const now = services.now();
  const tokenHash = sha256(presented);

  const old = await services.store.getRefreshToken(tokenHash);
  if (old === undefined) throw invalidGrant('unknown refresh token');
  if (old.clientId !== client.clientId)
    throw invalidGrant('refresh token was issued to another client');
  const grant = await services.store.getGrant(old.grantId);
  if (grant === undefined || grant.revokedAt !== undefined)
    throw invalidGrant('refresh token revoked');
  const scopes = checkScopesWithin(requestedScopes, old.scopes, 'the scope of the grant');
  checkSameResource(requestedResource, old.resource);
  const user =
    grant.kind === 'authorization_code' ? await services.store.getUser(grant.subject) : undefined;
  if (grant.kind === 'authorization_code' && (user === undefined || user.disabled)) {
    await services.store.revokeGrant(grant.grantId, now);
    throw invalidGrant('the user can no longer sign in');
  }

  const access = await mintAccessToken(services, grant, scopes, now);
  const successor = mintRefreshToken(services, grant, old.scopes, now);
  const response = tokenResponseText(access, scopes, successor);
  const result = await services.store.rotateRefreshToken({
    tokenHash,
    clientId: client.clientId,
    now,
    graceMs: services.settings.refreshGraceMs,
    successor: successor.record,
    accessToken: access.record,
    graceBlob: sealForGrace(presented, response),
  });

  switch (result.status) {
    case 'rotated':
      if (client.kind === 'dynamic') await services.store.touchClient(client.clientId, now);
      audit(exchange, {
        event: 'oauth.token.issued',
        decision: 'allow',
        grant_type: 'refresh_token',
        subject: grant.subject,
        client_id: client.clientId,
        resource: grant.resource,
        granted_scopes: scopes,
        token_id_hash: tokenIdHash(services, access.record.jti),
      });
      return response;
    case 'grace': {
      const earlier = openGraceBlob(presented, result.graceBlob);
      if (earlier === undefined) throw invalidGrant('refresh token already used');
      services.logger?.info(
        { client_id: client.clientId },
        'refresh retried within the grace window',
      );
      return earlier;
    }
    case 'reused':
      audit(exchange, {
        event: 'oauth.refresh.reused',
        decision: 'deny',
        reason: 'OAuthInvalidGrant',
        subject: grant.subject,
        client_id: client.clientId,
      });
      services.logger?.warn(
        { client_id: client.clientId },
        'rotated refresh token reused; its family is revoked',
      );
      throw invalidGrant('refresh token already used; every token of this grant is revoked');
    case 'expired':
      throw invalidGrant('refresh token expired');
    case 'revoked':
      throw invalidGrant('refresh token revoked');
    case 'wrong-client':
      throw invalidGrant('refresh token was issued to another client');
    case 'not-found':
      throw invalidGrant('unknown refresh token');
  }
}
