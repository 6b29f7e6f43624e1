/**
 * RT-: refresh tokens (cases in docs/security-cases.md). Rotation on every use; reuse of a rotated
 * token revokes the family, except for a retry within the grace window (10 s) while the successor
 * is unused, which gets the same successor pair. Run on memory and SQLite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { sha256 } from '../../src/authorization-server/crypto.ts';
import { setUserPassword } from '../../src/authorization-server/index.ts';
import {
  CONFIDENTIAL_SECRET,
  createHarness,
  type Harness,
  PASSWORD,
  type TokenBody,
} from './harness.ts';

const GRACE_MS = 10_000;

function refresh(h: Harness, token: string | undefined, extra: Record<string, string> = {}) {
  return h.token({
    grant_type: 'refresh_token',
    refresh_token: token,
    client_id: 'pre-public',
    ...extra,
  });
}

async function jtiOf(h: Harness, accessToken: string): Promise<string> {
  const { payload } = await jwtVerify(accessToken, createLocalJWKSet(await h.as.publicKeySet()), {
    currentDate: new Date(h.clock.now),
  });
  return String(payload.jti);
}

async function claimsOf(h: Harness, accessToken: string) {
  const { payload } = await jwtVerify(accessToken, createLocalJWKSet(await h.as.publicKeySet()), {
    currentDate: new Date(h.clock.now),
  });
  return payload;
}

for (const backend of ['memory', 'sqlite'] as const) {
  describe(`RT: refresh tokens (${backend} store)`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ store: backend });
    });
    after(async () => {
      await h.close();
    });

    it('RT-01 a refresh returns a new pair; the old refresh token is spent', async () => {
      const first = await h.obtainTokens();
      h.clock.advance(60_000);
      const second = await refresh(h, first.refresh_token);
      assert.equal(second.status, 200);
      const body = second.body as unknown as TokenBody;
      assert.notEqual(body.refresh_token, first.refresh_token);
      assert.notEqual(body.access_token, first.access_token);
      assert.equal(second.headers.get('cache-control'), 'no-store');
      const stored = await h.store.getRefreshToken(sha256(first.refresh_token ?? ''));
      assert.ok(stored?.rotatedAt !== undefined, 'the old token is marked rotated');
    });

    it('RT-11 a retry within the grace window gets the same successor pair, up to exactly 10 s', async () => {
      const first = await h.obtainTokens();
      const rotated = await refresh(h, first.refresh_token);
      h.clock.advance(GRACE_MS);
      const retry = await refresh(h, first.refresh_token);
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body, rotated.body, 'byte-identical successor pair');
      const successor = rotated.body as unknown as TokenBody;
      assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(h, successor.access_token)), false);
      const next = await refresh(h, successor.refresh_token);
      assert.equal(next.status, 200, 'the successor still works once');
    });

    it('RT-02 reuse just after the grace window revokes the whole family', async () => {
      const first = await h.obtainTokens();
      const rotated = await refresh(h, first.refresh_token);
      const successor = rotated.body as unknown as TokenBody;
      h.clock.advance(GRACE_MS + 1);
      const reuse = await refresh(h, first.refresh_token);
      assert.equal(reuse.status, 400);
      assert.equal(reuse.body.error, 'invalid_grant');
      assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(h, successor.access_token)), true);
      assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(h, first.access_token)), true);
      const late = await refresh(h, successor.refresh_token);
      assert.equal(late.status, 400, 'the latest refresh token is dead too');
      assert.equal(late.body.error, 'invalid_grant');
      assert.equal(h.eventsNamed('oauth.refresh.reused').at(-1)?.client_id, 'pre-public');
    });

    it('RT-02 reuse within the window after the successor was used revokes the family', async () => {
      const first = await h.obtainTokens();
      const rotated = (await refresh(h, first.refresh_token)).body as unknown as TokenBody;
      const third = (await refresh(h, rotated.refresh_token)).body as unknown as TokenBody;
      h.clock.advance(1000);
      const reuse = await refresh(h, first.refresh_token);
      assert.equal(reuse.status, 400);
      assert.equal(reuse.body.error, 'invalid_grant');
      assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(h, third.access_token)), true);
      assert.equal((await refresh(h, third.refresh_token)).status, 400);
    });

    it('RT-03 parallel refreshes with one token all get the same pair, and the family lives', async () => {
      const first = await h.obtainTokens();
      const results = await Promise.all(
        Array.from({ length: 5 }, () => refresh(h, first.refresh_token)),
      );
      for (const result of results) assert.equal(result.status, 200, JSON.stringify(result.body));
      const bodies = new Set(results.map((result) => JSON.stringify(result.body)));
      assert.equal(bodies.size, 1, 'one rotation, one successor pair for everybody');
      const successor = results[0]?.body as unknown as TokenBody;
      assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(h, successor.access_token)), false);
      assert.equal((await refresh(h, successor.refresh_token)).status, 200);
    });

    it('RT-04 a refresh token of client A presented by client B is refused and left alone', async () => {
      const first = await h.obtainTokens();
      const stolen = await h.token(
        { grant_type: 'refresh_token', refresh_token: first.refresh_token },
        ['pre-confidential', CONFIDENTIAL_SECRET],
      );
      assert.equal(stolen.status, 400);
      assert.equal(stolen.body.error, 'invalid_grant');
      assert.equal((await refresh(h, first.refresh_token)).status, 200, 'A can still use it');
    });

    it('RT-05 a narrower scope narrows the access token only; a broader one is refused', async () => {
      const first = await h.obtainTokens({ scope: 'files:read files:write' });
      const broader = await refresh(h, first.refresh_token, { scope: 'files:read admin' });
      assert.equal(broader.status, 400);
      assert.equal(broader.body.error, 'invalid_scope');
      const narrower = await refresh(h, first.refresh_token, { scope: 'files:read' });
      assert.equal(narrower.status, 200);
      const narrowBody = narrower.body as unknown as TokenBody;
      assert.equal(narrowBody.scope, 'files:read');
      assert.equal((await claimsOf(h, narrowBody.access_token)).scope, 'files:read');
      const full = await refresh(h, narrowBody.refresh_token);
      assert.equal((full.body as unknown as TokenBody).scope, 'files:read files:write');
    });

    it('RT-06 another resource is refused; the same resource is fine', async () => {
      const first = await h.obtainTokens();
      const other = await refresh(h, first.refresh_token, { resource: `${h.url}/other` });
      assert.equal(other.status, 400);
      assert.equal(other.body.error, 'invalid_target');
      const same = await refresh(h, first.refresh_token, { resource: h.resource });
      assert.equal(same.status, 200);
      assert.equal((await claimsOf(h, String(same.body.access_token))).aud, h.resource);
    });

    it('RT-07 an unused refresh token expires after its lifetime (idle expiry)', async () => {
      const first = await h.obtainTokens();
      h.clock.advance(2_592_000_000);
      const late = await refresh(h, first.refresh_token);
      assert.equal(late.status, 400);
      assert.equal(late.body.error, 'invalid_grant');
    });

    it('RT-08 after revocation at the revocation endpoint', async () => {
      const first = await h.obtainTokens();
      const revoked = await h.post('/oauth/revoke', {
        token: first.refresh_token,
        client_id: 'pre-public',
      });
      assert.equal(revoked.status, 200);
      const late = await refresh(h, first.refresh_token);
      assert.equal(late.status, 400);
      assert.equal(late.body.error, 'invalid_grant');
    });

    it('RT-08 after the user is disabled', async () => {
      await setUserPassword(h.store, 'carol', PASSWORD, h.clock.now);
      const first = await h.obtainTokens({ username: 'carol' });
      const user = await h.store.getUser('carol');
      assert.ok(user);
      await h.store.putUser({ ...user, disabled: true });
      const late = await refresh(h, first.refresh_token);
      assert.equal(late.status, 400);
      assert.equal(late.body.error, 'invalid_grant');
      await h.store.putUser({ ...user, disabled: false });
      assert.equal((await refresh(h, first.refresh_token)).status, 400, 'and the family is gone');
    });

    it('refresh token missing or unknown', async () => {
      const missing = await refresh(h, undefined);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_request');
      const unknown = await refresh(h, 'A'.repeat(43));
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error, 'invalid_grant');
    });

    it('positive control: a fresh refresh token refreshes', async () => {
      const first = await h.obtainTokens();
      const next = await refresh(h, first.refresh_token);
      assert.equal(next.status, 200);
      assert.equal((await claimsOf(h, String(next.body.access_token))).sub, 'alice');
    });
  });
}

describe('RT-07 absolute family lifetime', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({
      edit: (document) => {
        document.authorization_server.refresh_token_ttl_seconds = 3600;
        document.authorization_server.refresh_token_max_lifetime_seconds = 7200;
      },
    });
  });
  after(async () => {
    await h.close();
  });

  it('however often it is rotated, the family ends at its absolute lifetime', async () => {
    let tokens = await h.obtainTokens();
    for (let step = 0; step < 2; step++) {
      h.clock.advance(40 * 60_000);
      const next = await refresh(h, tokens.refresh_token);
      assert.equal(next.status, 200, `rotation ${step}`);
      tokens = next.body as unknown as TokenBody;
    }
    // 120 minutes in: the family's absolute end.
    h.clock.advance(40 * 60_000);
    const late = await refresh(h, tokens.refresh_token);
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'invalid_grant');
  });

  it('access tokens never outlive their family', async () => {
    let tokens = await h.obtainTokens();
    for (const minutes of [40, 40, 39]) {
      h.clock.advance(minutes * 60_000);
      const next = await refresh(h, tokens.refresh_token);
      assert.equal(next.status, 200);
      tokens = next.body as unknown as TokenBody;
    }
    assert.equal(tokens.expires_in, 60, 'cut to the family end, not 900 s');
  });
});
