/**
 * Signing keys: bootstrap on first start, rotation that publishes before it signs and keeps the
 * old key until its last token has expired, picked up from the store by a running server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  ensureSigningKey,
  KEY_PUBLISH_LEAD_MS,
  rotateSigningKeys,
} from '../../src/authorization-server/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { createHarness, type Harness } from './harness.ts';

const kids = async (h: Harness) => (await h.as.publicKeySet()).keys.map((key) => key.kid);

describe('key bootstrap', () => {
  it('creates one signing key on first start and reuses it afterwards', async () => {
    const store = new MemoryStore();
    const first = await ensureSigningKey(store, 'ES256', 1000);
    const second = await ensureSigningKey(store, 'ES256', 2000);
    assert.equal(first.kid, second.kid);
    assert.equal((await store.listSigningKeys()).length, 1);
    assert.equal(first.privateJwk.d !== undefined, true, 'the private key is kept in the store');
    assert.equal(first.publicJwk.d, undefined);
  });
});

describe('key rotation with a running server', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  it('publishes the new key first, switches at activation, drops the old one after its last token', async () => {
    const [original] = await kids(h);
    const before = await h.obtainTokens();
    assert.equal(decodeProtectedHeader(before.access_token).kid, original);

    // `portcullis keys rotate` runs in another process: it only writes to the store.
    const rotation = await rotateSigningKeys(h.store, {
      alg: 'ES256',
      now: h.clock.now,
      accessTokenTtlMs: 900_000,
    });
    assert.equal(rotation.activatesAt, h.clock.now + KEY_PUBLISH_LEAD_MS);
    assert.deepEqual(
      rotation.retiring.map((key) => key.kid),
      [original],
    );

    // Within 30 s the server has read the store: the new key is published, not yet signing.
    h.clock.advance(30_000);
    assert.deepEqual(await kids(h), [original, rotation.kid]);
    const during = await h.obtainTokens();
    assert.equal(decodeProtectedHeader(during.access_token).kid, original);

    // At activation the new key signs; the old one stays published.
    h.clock.advance(KEY_PUBLISH_LEAD_MS - 30_000);
    const after = await h.obtainTokens();
    assert.equal(decodeProtectedHeader(after.access_token).kid, rotation.kid);
    const keySet = createLocalJWKSet(await h.as.publicKeySet());
    const verify = (token: string) =>
      jwtVerify(token, keySet, { currentDate: new Date(h.clock.now) });
    await verify(during.access_token);
    await verify(after.access_token);

    // The old key leaves once its last token (900 s) plus the margin has passed.
    h.clock.advance(900_000 + 5 * 60_000 - 1000);
    assert.deepEqual(await kids(h), [original, rotation.kid]);
    h.clock.advance(2000);
    assert.deepEqual(await kids(h), [rotation.kid]);
  });

  it('publicKeySet() returns the same object until the set changes', async () => {
    const one = await h.as.publicKeySet();
    h.clock.advance(31_000);
    assert.equal(await h.as.publicKeySet(), one, 'same identity after a re-read with no change');
    await rotateSigningKeys(h.store, { alg: 'ES256', now: h.clock.now, accessTokenTtlMs: 900_000 });
    h.clock.advance(31_000);
    const two = await h.as.publicKeySet();
    assert.notEqual(two, one);
    assert.equal(two.keys.length, one.keys.length + 1);
    assert.ok(Object.isFrozen(two));
  });

  it('JWKS answers follow the same set', async () => {
    const response = await fetch(`${h.url}/oauth/jwks`);
    const { keys } = (await response.json()) as { keys: { kid: string }[] };
    assert.deepEqual(
      keys.map((key) => key.kid),
      await kids(h),
    );
  });
});
