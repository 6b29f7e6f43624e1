/**
 * Replicas on one store each hold the signing keys in memory. A token signed with a key this
 * replica has not loaded yet (another replica just created it, or `keys rotate` ran) must still
 * verify: the unknown key makes the co-located key source read the store again. Two real
 * authorization servers on one store, a real token from the second, verified through the first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tokenVerificationFor } from '../../src/assembly/authentication.ts';
import {
  type AuthorizationServer,
  createAuthorizationServer,
  rotateSigningKeys,
} from '../../src/authorization-server/index.ts';
import {
  CONFIDENTIAL_SECRET,
  createHarness,
  type Harness,
} from '../authorization-server/harness.ts';

describe('co-located keys across replicas', () => {
  let h: Harness;
  let other: AuthorizationServer;
  let token: string;

  before(async () => {
    h = await createHarness();
    // The verifier checks iat and exp against the real clock: mint at the real time.
    h.clock.now = Date.now();
    // The first replica loads its key set; then another one makes a key that signs at once.
    await h.as.publicKeySet();
    await rotateSigningKeys(h.store, {
      alg: 'ES256',
      now: h.clock.now,
      accessTokenTtlMs: 900_000,
      publishLeadMs: 0,
    });
    other = await createAuthorizationServer(h.loaded, { store: h.store, now: () => h.clock.now });
    const response = await other.handle(
      new Request(`${h.issuer}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`pre-confidential:${CONFIDENTIAL_SECRET}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: h.resource }),
      }),
    );
    assert.ok(response);
    assert.equal(response.status, 200, await response.clone().text());
    token = ((await response.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    await other.close();
    await h.close();
  });

  it('without a reload the first replica refuses the new key (the failure this prevents)', async () => {
    const stale = tokenVerificationFor(h.loaded, {
      authorizationServer: {
        publicKeySet: () => h.as.publicKeySet(),
        isAccessTokenRevoked: (jti) => h.as.isAccessTokenRevoked(jti),
      },
    });
    assert.ok(stale);
    await assert.rejects(stale.verifier.verify(token), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'AuthTokenInvalid');
      assert.match(error.message, /key/i, error.message);
      return true;
    });
  });

  it('positive control: with reloadKeys the unknown key is read from the store and the token verifies', async () => {
    const verification = tokenVerificationFor(h.loaded, { authorizationServer: h.as });
    assert.ok(verification);
    const verified = await verification.verifier.verify(token);
    assert.equal(verified.claims.client_id, 'pre-confidential');
  });
});
