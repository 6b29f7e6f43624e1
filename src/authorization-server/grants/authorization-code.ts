import { RequestError } from '../../errors/index.ts';
import type { GrantRecord } from '../../store/index.ts';
import type { Params } from '../checks/parameters.ts';
import { required } from '../checks/parameters.ts';
import { checkCodeVerifier } from '../checks/pkce.ts';
import { checkSameResource } from '../checks/resource.ts';
import type { Client } from '../clients/client.ts';
import { randomToken, sha256 } from '../crypto.ts';
import type { PendingAuthorization } from '../pending-authorization.ts';
import { audit, type Exchange } from '../services.ts';
import { LIMITS } from '../settings.ts';
import { mintAccessToken, mintRefreshToken, tokenIdHash, tokenResponseText } from '../tokens.ts';

/**
 * Issues a code for an approved request and returns where to send the browser: the redirect URI
 * with `code`, `state` and `iss` (RFC 9207 §2). The code is 256 random bits, stored as a hash,
 * single use, valid 60 s, bound to client, redirect URI, PKCE challenge, resource and scopes,
 * and to the grant id its tokens will carry.
 */
export async function issueAuthorizationCode(
  exchange: Exchange,
  pending: PendingAuthorization,
  subject: string,
): Promise<string> {
  const { services } = exchange;
  const now = services.now();
  const code = randomToken(32);
  await services.store.putCode({
    codeHash: sha256(code),
    grantId: randomToken(16),
    clientId: pending.clientId,
    subject,
    redirectUri: pending.redirectUri,
    codeChallenge: pending.codeChallenge,
    resource: pending.resource,
    scopes: pending.scopes,
    createdAt: now,
    expiresAt: now + LIMITS.codeTtlMs,
    consumedAt: undefined,
  });
  audit(exchange, {
    event: 'oauth.authorization.granted',
    decision: 'allow',
    subject,
    client_id: pending.clientId,
    resource: pending.resource,
    granted_scopes: pending.scopes,
  });
  const target = new URL(pending.redirectUri);
  target.searchParams.append('code', code);
  if (pending.state !== undefined) target.searchParams.append('state', pending.state);
  target.searchParams.append('iss', services.settings.issuer);
  return target.href;
}

const invalidGrant = (message: string) => new RequestError('OAuthInvalidGrant', message);

/**
 * The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.5). The code is consumed first,
 * atomically, so of any number of concurrent redemptions exactly one proceeds; a second
 * presentation of a consumed code revokes the grant (and every token) issued from it.
 */
export async function redeemAuthorizationCode(
  exchange: Exchange,
  client: Client,
  form: Params,
): Promise<string> {
  const { services } = exchange;
  const code = required(form, 'code');
  const redirectUri = required(form, 'redirect_uri');
  const verifier = required(form, 'code_verifier');
  const requestedResource = form.get('resource');
  const now = services.now();

  const result = await services.store.consumeCode(sha256(code), now);
  if (result.status === 'not-found') throw invalidGrant('unknown authorization code');
  if (result.status === 'replayed') {
    const revoked = await services.store.revokeGrant(result.code.grantId, now);
    audit(exchange, {
      event: 'oauth.code.replayed',
      decision: 'deny',
      reason: 'OAuthInvalidGrant',
      subject: result.code.subject,
      client_id: result.code.clientId,
    });
    services.logger?.warn(
      { client_id: result.code.clientId, grant_revoked: revoked },
      'authorization code replayed; its tokens are revoked',
    );
    throw invalidGrant('authorization code already used');
  }
  const stored = result.code;
  if (stored.expiresAt <= now) throw invalidGrant('authorization code expired');
  if (stored.clientId !== client.clientId)
    throw invalidGrant('authorization code was issued to another client');
  if (stored.redirectUri !== redirectUri)
    throw invalidGrant('redirect_uri differs from the authorization request');
  checkCodeVerifier(verifier, stored.codeChallenge);
  checkSameResource(requestedResource, stored.resource);
  const user = await services.store.getUser(stored.subject);
  if (user === undefined || user.disabled) throw invalidGrant('the user can no longer sign in');

  const grant: GrantRecord = {
    grantId: stored.grantId,
    kind: 'authorization_code',
    subject: stored.subject,
    clientId: client.clientId,
    resource: stored.resource,
    scopes: stored.scopes,
    createdAt: now,
    expiresAt: now + services.settings.refreshMaxLifetimeMs,
    revokedAt: undefined,
  };
  await services.store.putGrant(grant);
  const access = await mintAccessToken(services, grant, grant.scopes, now);
  await services.store.putAccessToken(access.record);
  const refresh = client.grantTypes.includes('refresh_token')
    ? mintRefreshToken(services, grant, grant.scopes, now)
    : undefined;
  if (refresh !== undefined) await services.store.putRefreshToken(refresh.record);
  if (client.kind === 'dynamic') await services.store.touchClient(client.clientId, now);
  audit(exchange, {
    event: 'oauth.token.issued',
    decision: 'allow',
    grant_type: 'authorization_code',
    subject: grant.subject,
    client_id: client.clientId,
    resource: grant.resource,
    granted_scopes: grant.scopes,
    token_id_hash: tokenIdHash(services, access.record.jti),
  });
  return tokenResponseText(access, grant.scopes, refresh);
}
