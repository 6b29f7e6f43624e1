import { RequestError } from '../../errors/index.ts';
import type { GrantRecord } from '../../store/index.ts';
import { type Params, required } from '../checks/parameters.ts';
import { checkSameResource } from '../checks/resource.ts';
import type { Client } from '../clients/client.ts';
import { randomToken } from '../crypto.ts';
import { DEVICE_CODE_GRANT, deviceRecordId, deviceStateFrom, putDeviceState } from '../device.ts';
import { audit, type Exchange } from '../services.ts';
import { LIMITS } from '../settings.ts';
import { mintAccessToken, mintRefreshToken, tokenIdHash, tokenResponseText } from '../tokens.ts';

const invalidGrant = (message: string) => new RequestError('OAuthInvalidGrant', message);

/**
 * The device_code grant (RFC 8628 §3.4, §3.5). While the person has not decided:
 * `authorization_pending`, or `slow_down` (and a 5 s longer interval) for a poll that came too
 * soon; after a denial `access_denied`, after the code's life `expired_token`. An approved code
 * is taken atomically, so it yields tokens exactly once; a second redemption is `invalid_grant`.
 */
export async function redeemDeviceCode(
  exchange: Exchange,
  client: Client,
  form: Params,
): Promise<string> {
  const { services } = exchange;
  const id = deviceRecordId(required(form, 'device_code'));
  const now = services.now();
  const record = await services.store.getInteraction(id);
  const state = record === undefined ? undefined : deviceStateFrom(record.request);
  if (record === undefined || state === undefined) {
    throw invalidGrant('unknown or already used device code');
  }
  if (state.clientId !== client.clientId) {
    throw invalidGrant('the device code was issued to another client');
  }
  if (record.expiresAt <= now) {
    await services.store.takeInteraction(id);
    throw new RequestError('OAuthExpiredToken', 'the device code has expired');
  }
  if (state.status === 'denied') {
    await services.store.takeInteraction(id);
    throw new RequestError('OAuthAccessDenied', 'the user denied the request');
  }
  if (state.status === 'pending') {
    const tooSoon =
      state.lastPollAt !== undefined && now - state.lastPollAt < state.interval * 1000;
    const interval = tooSoon ? state.interval + LIMITS.deviceSlowDownS : state.interval;
    await putDeviceState(
      services.store,
      id,
      { ...state, interval, lastPollAt: now },
      record.createdAt,
      record.expiresAt,
    );
    throw tooSoon
      ? new RequestError('OAuthSlowDown', `poll at most every ${interval} seconds`)
      : new RequestError('OAuthAuthorizationPending', 'the user has not decided yet');
  }
  const resource = checkSameResource(form.get('resource'), state.resource);
  // Exactly one redemption: whoever takes the record gets the tokens.
  if ((await services.store.takeInteraction(id)) === undefined) {
    throw invalidGrant('device code already used');
  }
  const subject = state.subject ?? '';
  const user = await services.store.getUser(subject);
  if (user === undefined || user.disabled) throw invalidGrant('the user can no longer sign in');
  const grant: GrantRecord = {
    grantId: randomToken(16),
    // A person's delegation, like a code grant: revocable per user and client, refreshable.
    kind: 'authorization_code',
    subject,
    clientId: client.clientId,
    resource,
    scopes: state.scopes,
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
    grant_type: DEVICE_CODE_GRANT,
    subject,
    client_id: client.clientId,
    resource,
    granted_scopes: grant.scopes,
    token_id_hash: tokenIdHash(services, access.record.jti),
  });
  return tokenResponseText(access, grant.scopes, refresh);
}
