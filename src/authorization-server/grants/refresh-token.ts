import { RequestError } from '../../errors/index.ts';
import type { Params } from '../checks/parameters.ts';
import { required } from '../checks/parameters.ts';
import { checkSameResource } from '../checks/resource.ts';
import { checkScopesWithin, parseScope } from '../checks/scope.ts';
import { type Client, isConfidential } from '../clients/client.ts';
import { openGraceBlob, sealForGrace, sha256 } from '../crypto.ts';
import { bindingFor, requireSameKey, type TokenExchange } from '../dpop-binding.ts';
import { audit } from '../services.ts';
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
  exchange: TokenExchange,
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
  // A dead token is invalid_grant whatever else the request asks (RFC 6749 §5.2): its expiry is
  // decided before the scope or resource are looked at. A rotated token goes on to the store,
  // which tells a retry within the grace window from a reuse that revokes the family; a scope or
  // resource it cannot have is refused only after that.
  if (old.rotatedAt === undefined && (old.expiresAt <= now || grant.expiresAt <= now)) {
    throw invalidGrant('refresh token expired');
  }
  // A bound refresh token is usable only with its key (RFC 9449 §5): without it, the presenter
  // is not the holder, so this refusal never counts as a reuse of the family.
  requireSameKey(old.dpopJkt, exchange.dpopJkt, 'refresh token');
  let scopes: readonly string[] = old.scopes;
  let refusal: unknown;
  try {
    scopes = checkScopesWithin(requestedScopes, old.scopes, 'the scope of the grant');
    checkSameResource(requestedResource, old.resource);
  } catch (error) {
    if (old.rotatedAt === undefined) throw error;
    refusal = error;
  }
  const user =
    grant.kind === 'authorization_code' ? await services.store.getUser(grant.subject) : undefined;
  if (grant.kind === 'authorization_code' && (user === undefined || user.disabled)) {
    await services.store.revokeGrant(grant.grantId, now);
    throw invalidGrant('the user can no longer sign in');
  }

  const boundKey = bindingFor(services, grant.resource, exchange.dpopJkt);
  const access = await mintAccessToken(services, grant, scopes, now, boundKey);
  const successor = mintRefreshToken(
    services,
    grant,
    old.scopes,
    now,
    old.dpopJkt ?? (isConfidential(client) ? undefined : boundKey),
  );
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
        sender_constraint: boundKey === undefined ? 'bearer' : 'dpop',
      });
      return response;
    case 'grace': {
      if (refusal !== undefined) throw refusal;
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
