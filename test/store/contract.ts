/**
 * The Store contract: every backend runs exactly these tests. A new backend (Redis) adds one
 * small file that calls `describeStoreContract` with a factory, and nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AccessTokenRecord,
  type CodeRecord,
  createStoreReplayCache,
  type GrantRecord,
  type RefreshTokenRecord,
  type RotateRefreshInput,
  STORE_SCHEMA_VERSION,
  type Store,
} from '../../src/store/index.ts';

export interface StoreFactory {
  /** A fresh, empty store. */
  open(): Promise<Store>;
}

const T0 = 1_800_000_000_000;
let sequence = 0;
const unique = (prefix: string) => `${prefix}-${++sequence}`;

export function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    grantId: unique('grant'),
    kind: 'authorization_code',
    subject: 'alice',
    clientId: 'client-a',
    resource: 'https://gw.example/mcp',
    scopes: ['files:read'],
    createdAt: T0,
    expiresAt: T0 + 90 * 86_400_000,
    revokedAt: undefined,
    ...overrides,
  };
}

export function code(overrides: Partial<CodeRecord> = {}): CodeRecord {
  return {
    codeHash: unique('code'),
    grantId: unique('grant'),
    clientId: 'client-a',
    subject: 'alice',
    redirectUri: 'http://127.0.0.1/cb',
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    resource: 'https://gw.example/mcp',
    scopes: ['files:read'],
    createdAt: T0,
    expiresAt: T0 + 60_000,
    consumedAt: undefined,
    ...overrides,
  };
}

export function refreshToken(
  granted: GrantRecord,
  overrides: Partial<RefreshTokenRecord> = {},
): RefreshTokenRecord {
  return {
    tokenHash: unique('rt'),
    grantId: granted.grantId,
    clientId: granted.clientId,
    subject: granted.subject,
    resource: granted.resource,
    scopes: granted.scopes,
    issuedAt: T0,
    expiresAt: T0 + 30 * 86_400_000,
    rotatedAt: undefined,
    successorHash: undefined,
    graceBlob: undefined,
    ...overrides,
  };
}

export function accessToken(
  granted: GrantRecord,
  overrides: Partial<AccessTokenRecord> = {},
): AccessTokenRecord {
  return {
    jti: unique('jti'),
    grantId: granted.grantId,
    clientId: granted.clientId,
    expiresAt: T0 + 900_000,
    revokedAt: undefined,
    ...overrides,
  };
}

function rotation(
  granted: GrantRecord,
  old: RefreshTokenRecord,
  now: number,
  overrides: Partial<RotateRefreshInput> = {},
): RotateRefreshInput {
  return {
    tokenHash: old.tokenHash,
    clientId: old.clientId,
    now,
    graceMs: 10_000,
    successor: refreshToken(granted, { issuedAt: now }),
    accessToken: accessToken(granted),
    graceBlob: unique('blob'),
    ...overrides,
  };
}

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    it('reports the current schema version', async () => {
      assert.equal(await store.schemaVersion(), STORE_SCHEMA_VERSION);
    });

    it('creates, reads and resets users', async () => {
      assert.equal(await store.getUser('nobody'), undefined);
      await store.putUser({
        username: 'alice',
        passwordHash: 'h1',
        disabled: false,
        createdAt: T0,
        updatedAt: T0,
      });
      await store.putUser({
        username: 'alice',
        passwordHash: 'h2',
        disabled: false,
        createdAt: T0 + 5,
        updatedAt: T0 + 5,
      });
      const user = await store.getUser('alice');
      assert.equal(user?.passwordHash, 'h2');
      assert.equal(user?.createdAt, T0, 'a reset keeps the creation time');
      assert.equal(user?.updatedAt, T0 + 5);
      assert.equal(await store.getUser('ALICE'), undefined, 'names are exact');
    });

    it('stores clients, counts them, touches and prunes stale ones', async () => {
      const base = await store.countClients();
      await store.putClient({
        clientId: 'dyn-1',
        secretHash: undefined,
        metadata: { client_name: 'One', redirect_uris: ['http://127.0.0.1/cb'] },
        createdAt: T0,
        lastUsedAt: undefined,
      });
      await store.putClient({
        clientId: 'dyn-2',
        secretHash: 'hash',
        metadata: { client_name: 'Two' },
        createdAt: T0,
        lastUsedAt: undefined,
      });
      assert.equal(await store.countClients(), base + 2);
      const one = await store.getClient('dyn-1');
      assert.deepEqual(one?.metadata, {
        client_name: 'One',
        redirect_uris: ['http://127.0.0.1/cb'],
      });
      assert.equal(one?.secretHash, undefined);
      assert.equal((await store.getClient('dyn-2'))?.secretHash, 'hash');
      await store.touchClient('dyn-1', T0 + 1000);
      assert.equal((await store.getClient('dyn-1'))?.lastUsedAt, T0 + 1000);
      // dyn-2 was never used and is old; dyn-1 was used recently.
      const removed = await store.pruneClients(T0 + 1, T0);
      assert.ok(removed >= 1);
      assert.equal(await store.getClient('dyn-2'), undefined);
      assert.ok(await store.getClient('dyn-1'));
    });

    it('remembers, lists and withdraws consent per user and client', async () => {
      await store.putConsent({
        subject: 'carol',
        clientId: 'c1',
        scopes: ['a', 'b'],
        resources: ['https://gw.example/mcp'],
        grantedAt: T0,
      });
      await store.putConsent({
        subject: 'carol',
        clientId: 'c2',
        scopes: ['a'],
        resources: ['https://gw.example/mcp'],
        grantedAt: T0,
      });
      assert.deepEqual((await store.getConsent('carol', 'c1'))?.scopes, ['a', 'b']);
      assert.equal(await store.getConsent('dave', 'c1'), undefined);
      assert.deepEqual(
        (await store.listConsents('carol')).map((consent) => consent.clientId),
        ['c1', 'c2'],
      );
      assert.equal(await store.deleteConsent('carol', 'c1'), true);
      assert.equal(await store.deleteConsent('carol', 'c1'), false);
      assert.equal(await store.getConsent('carol', 'c1'), undefined);
    });

    it('keeps sessions until deleted', async () => {
      await store.putSession({ idHash: 's1', subject: 'alice', createdAt: T0, expiresAt: T0 + 1 });
      assert.equal((await store.getSession('s1'))?.subject, 'alice');
      await store.deleteSession('s1');
      assert.equal(await store.getSession('s1'), undefined);
    });

    it('hands a pending interaction to exactly one taker', async () => {
      await store.putInteraction({
        id: 'i1',
        browserHash: 'b',
        request: { client_id: 'x', scopes: ['a'] },
        createdAt: T0,
        expiresAt: T0 + 600_000,
      });
      assert.deepEqual((await store.getInteraction('i1'))?.request, {
        client_id: 'x',
        scopes: ['a'],
      });
      const taken = await Promise.all([
        store.takeInteraction('i1'),
        store.takeInteraction('i1'),
        store.takeInteraction('i1'),
      ]);
      assert.equal(taken.filter((record) => record !== undefined).length, 1);
      assert.equal(await store.getInteraction('i1'), undefined);
    });

    it('consumes a code once; a replay is reported with the record', async () => {
      const issued = code();
      await store.putCode(issued);
      const first = await store.consumeCode(issued.codeHash, T0 + 5);
      assert.equal(first.status, 'consumed');
      const second = await store.consumeCode(issued.codeHash, T0 + 6);
      assert.equal(second.status, 'replayed');
      assert.equal(second.status === 'replayed' && second.code.grantId, issued.grantId);
      assert.equal((await store.consumeCode('no-such-code', T0)).status, 'not-found');
    });

    it('20 concurrent redemptions of one code: exactly one consumes it', async () => {
      const issued = code();
      await store.putCode(issued);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) => store.consumeCode(issued.codeHash, T0 + index)),
      );
      assert.equal(results.filter((result) => result.status === 'consumed').length, 1);
      assert.equal(results.filter((result) => result.status === 'replayed').length, 19);
    });

    it('revokes a grant and with it every access token of the family', async () => {
      const granted = grant();
      await store.putGrant(granted);
      const token = accessToken(granted);
      await store.putAccessToken(token);
      assert.equal(await store.isAccessTokenRevoked(token.jti), false);
      assert.equal(await store.revokeGrant(granted.grantId, T0 + 1), true);
      assert.equal(await store.revokeGrant(granted.grantId, T0 + 2), false, 'only once');
      assert.equal(await store.isAccessTokenRevoked(token.jti), true);
      assert.equal((await store.getGrant(granted.grantId))?.revokedAt, T0 + 1);
      assert.equal(await store.isAccessTokenRevoked('unknown-jti'), false);
    });

    it('a revocation that arrives before its grant leaves a tombstone the grant cannot undo', async () => {
      const granted = grant();
      assert.equal(await store.revokeGrant(granted.grantId, T0), true);
      await store.putGrant(granted);
      const stored = await store.getGrant(granted.grantId);
      assert.equal(stored?.revokedAt, T0);
      assert.equal(stored?.subject, granted.subject);
      const token = accessToken(granted);
      await store.putAccessToken(token);
      assert.equal(await store.isAccessTokenRevoked(token.jti), true);
    });

    it('revokes one access token by its id', async () => {
      const granted = grant();
      await store.putGrant(granted);
      const [a, b] = [accessToken(granted), accessToken(granted)];
      await store.putAccessToken(a);
      await store.putAccessToken(b);
      await store.revokeAccessToken(a.jti, T0 + 3);
      assert.equal(await store.isAccessTokenRevoked(a.jti), true);
      assert.equal(await store.isAccessTokenRevoked(b.jti), false);
      assert.equal((await store.getAccessToken(a.jti))?.revokedAt, T0 + 3);
    });

    it('revokes every grant of a user for one client (consent withdrawn)', async () => {
      const mine = [
        grant({ subject: 'erin', clientId: 'cx' }),
        grant({ subject: 'erin', clientId: 'cx' }),
      ];
      const other = grant({ subject: 'erin', clientId: 'cy' });
      for (const g of [...mine, other]) await store.putGrant(g);
      assert.equal(await store.revokeGrantsFor('erin', 'cx', T0 + 9), 2);
      assert.equal((await store.getGrant(other.grantId))?.revokedAt, undefined);
      assert.equal(await store.revokeGrantsFor('erin', 'cx', T0 + 10), 0);
    });

    it('keeps the DPoP key binding of codes and refresh tokens (RFC 9449 §5, §10)', async () => {
      const bound = code({ dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' });
      await store.putCode(bound);
      const consumed = await store.consumeCode(bound.codeHash, T0 + 1);
      assert.equal(consumed.status === 'consumed' && consumed.code.dpopJkt, bound.dpopJkt);
      const unbound = code();
      await store.putCode(unbound);
      const plain = await store.consumeCode(unbound.codeHash, T0 + 1);
      assert.equal(plain.status === 'consumed' && plain.code.dpopJkt, undefined);
      const granted = grant();
      await store.putGrant(granted);
      const first = refreshToken(granted, { dpopJkt: bound.dpopJkt });
      await store.putRefreshToken(first);
      assert.equal((await store.getRefreshToken(first.tokenHash))?.dpopJkt, bound.dpopJkt);
      const input = rotation(granted, first, T0 + 1000);
      const successor = { ...input.successor, dpopJkt: bound.dpopJkt };
      assert.equal((await store.rotateRefreshToken({ ...input, successor })).status, 'rotated');
      assert.equal((await store.getRefreshToken(successor.tokenHash))?.dpopJkt, bound.dpopJkt);
    });

    it('carries the DPoP key binding of a refresh token through a snapshot (store migrate)', async () => {
      const granted = grant();
      await store.putGrant(granted);
      const bound = refreshToken(granted, {
        dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
      });
      const plain = refreshToken(granted);
      await store.putRefreshToken(bound);
      await store.putRefreshToken(plain);
      const snapshot = await store.exportSnapshot();
      const exported = new Map(snapshot.refreshTokens.map((token) => [token.tokenHash, token]));
      assert.equal(exported.get(bound.tokenHash)?.dpopJkt, bound.dpopJkt);
      assert.equal(exported.get(plain.tokenHash)?.dpopJkt, undefined);
      const target = await factory.open();
      try {
        await target.importSnapshot(snapshot);
        assert.equal((await target.getRefreshToken(bound.tokenHash))?.dpopJkt, bound.dpopJkt);
        const unbound = await target.getRefreshToken(plain.tokenHash);
        assert.ok(unbound, 'the unbound token was copied too (positive control)');
        assert.equal(unbound.dpopJkt, undefined);
      } finally {
        await target.close();
      }
    });

    describe('replay memory (DPoP proof and assertion jti)', () => {
      const windowMs = 10_000;
      const t0 = T0 + 9_000; // late in a counter window

      it('first use, replay, then forgotten once past its deadline', async () => {
        const cache = createStoreReplayCache(store, { namespace: unique('ns'), windowMs });
        assert.equal(await cache.remember('jti-1', t0 + windowMs, t0), true);
        assert.equal(await cache.remember('jti-1', t0 + windowMs, t0 + 500), false);
        // Across the counter window boundary, still a replay.
        assert.equal(await cache.remember('jti-1', t0 + windowMs, t0 + windowMs - 1), false);
        // Well past its deadline it may be used again (its owner refuses it for its age). The
        // counters may keep it a window longer than asked (each sighting carries it forward).
        assert.equal(await cache.remember('jti-1', t0 + 4 * windowMs, t0 + 3 * windowMs + 1), true);
        // Another identifier, and the same one in another namespace, are independent.
        assert.equal(await cache.remember('jti-2', t0 + windowMs, t0), true);
        const other = createStoreReplayCache(store, { namespace: unique('ns'), windowMs });
        assert.equal(await other.remember('jti-1', t0 + windowMs, t0), true);
      });

      it('20 concurrent first uses of one identifier: exactly one is accepted', async () => {
        const cache = createStoreReplayCache(store, { namespace: unique('ns'), windowMs });
        const results = await Promise.all(
          Array.from({ length: 20 }, () => cache.remember('jti-race', t0 + windowMs, t0)),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    describe('operator listings', () => {
      it('lists users with their roles, and keeps roles across a password reset', async () => {
        await store.putUser({
          username: 'op-zed',
          passwordHash: 'h',
          disabled: false,
          roles: ['admin'],
          createdAt: T0,
          updatedAt: T0,
        });
        await store.putUser({
          username: 'op-amy',
          passwordHash: 'h',
          disabled: true,
          createdAt: T0,
          updatedAt: T0,
        });
        const users = (await store.listUsers()).filter((u) => u.username.startsWith('op-'));
        assert.deepEqual(
          users.map((u) => [u.username, u.disabled, [...(u.roles ?? [])]]),
          [
            ['op-amy', true, []],
            ['op-zed', false, ['admin']],
          ],
        );
      });

      it('lists, disables, re-enables and deletes registered clients', async () => {
        const id = unique('dyn');
        await store.putClient({
          clientId: id,
          secretHash: undefined,
          metadata: { client_name: 'Listed' },
          createdAt: T0,
          lastUsedAt: undefined,
        });
        assert.ok((await store.listClients()).some((c) => c.clientId === id));
        assert.equal((await store.getClient(id))?.disabledAt, undefined);
        assert.equal(await store.setClientDisabled(id, T0 + 1), true);
        assert.equal((await store.getClient(id))?.disabledAt, T0 + 1);
        assert.equal(await store.setClientDisabled(id, undefined), true);
        assert.equal((await store.getClient(id))?.disabledAt, undefined);
        assert.equal(await store.setClientDisabled('no-such-client', T0), false);
        assert.equal(await store.deleteClient(id), true);
        assert.equal(await store.getClient(id), undefined);
        assert.equal(await store.deleteClient(id), false);
      });

      it('lists grants by user and client with their last use, live ones on request', async () => {
        const clientId = unique('lister');
        const first = grant({ clientId, subject: 'lister-ann', createdAt: T0 + 10 });
        const second = grant({ clientId, subject: 'lister-bob', createdAt: T0 + 20 });
        await store.putGrant(first);
        await store.putGrant(second);
        await store.putRefreshToken(refreshToken(first, { issuedAt: T0 + 500 }));
        await store.revokeGrant(second.grantId, T0 + 30);
        await store.revokeGrant(unique('tombstone'), T0 + 30);
        const all = await store.listGrants({ clientId });
        assert.deepEqual(
          all.map((g) => [g.grantId, g.lastUsedAt, g.revokedAt]),
          [
            [second.grantId, T0 + 20, T0 + 30],
            [first.grantId, T0 + 500, undefined],
          ],
        );
        const ann = await store.listGrants({ subject: 'lister-ann' });
        assert.deepEqual(
          ann.map((g) => g.grantId),
          [first.grantId],
        );
        const live = await store.listGrants({ clientId, liveAt: T0 + 40 });
        assert.deepEqual(
          live.map((g) => g.grantId),
          [first.grantId],
        );
        assert.deepEqual(await store.listGrants({ subject: 'nobody-at-all' }), []);
      });
    });

    describe('refresh-token rotation', () => {
      async function family() {
        const granted = grant();
        await store.putGrant(granted);
        const first = refreshToken(granted);
        await store.putRefreshToken(first);
        return { granted, first };
      }

      it('rotates: the old token is marked, the successor and its access token are stored', async () => {
        const { granted, first } = await family();
        const input = rotation(granted, first, T0 + 1000);
        const result = await store.rotateRefreshToken(input);
        assert.equal(result.status, 'rotated');
        const old = await store.getRefreshToken(first.tokenHash);
        assert.equal(old?.rotatedAt, T0 + 1000);
        assert.equal(old?.successorHash, input.successor.tokenHash);
        assert.equal(old?.graceBlob, input.graceBlob);
        assert.ok(await store.getRefreshToken(input.successor.tokenHash));
        assert.ok(await store.getAccessToken(input.accessToken.jti));
      });

      it('a retry within the grace window returns the stored successor; nothing is revoked', async () => {
        const { granted, first } = await family();
        const input = rotation(granted, first, T0 + 1000);
        await store.rotateRefreshToken(input);
        const retry = await store.rotateRefreshToken(rotation(granted, first, T0 + 1000 + 10_000));
        assert.equal(retry.status, 'grace');
        assert.equal(retry.status === 'grace' && retry.graceBlob, input.graceBlob);
        assert.equal(await store.isAccessTokenRevoked(input.accessToken.jti), false);
      });

      it('reuse after the grace window revokes the whole family', async () => {
        const { granted, first } = await family();
        const input = rotation(granted, first, T0 + 1000);
        await store.rotateRefreshToken(input);
        const reuse = await store.rotateRefreshToken(rotation(granted, first, T0 + 1000 + 10_001));
        assert.deepEqual(reuse, { status: 'reused', grantId: granted.grantId });
        assert.equal(await store.isAccessTokenRevoked(input.accessToken.jti), true);
        const next = await store.rotateRefreshToken(
          rotation(granted, input.successor, T0 + 20_000),
        );
        assert.equal(next.status, 'revoked', 'the successor is dead too');
      });

      it('reuse within the window after the successor was used revokes the family', async () => {
        const { granted, first } = await family();
        const one = rotation(granted, first, T0 + 1000);
        await store.rotateRefreshToken(one);
        const two = rotation(granted, one.successor, T0 + 2000);
        assert.equal((await store.rotateRefreshToken(two)).status, 'rotated');
        const reuse = await store.rotateRefreshToken(rotation(granted, first, T0 + 3000));
        assert.equal(reuse.status, 'reused');
        assert.equal(await store.isAccessTokenRevoked(two.accessToken.jti), true);
      });

      it('refuses another client, a revoked family, an expired token and an unknown one', async () => {
        const { granted, first } = await family();
        const wrong = await store.rotateRefreshToken(
          rotation(granted, first, T0 + 1, { clientId: 'client-b' }),
        );
        assert.equal(wrong.status, 'wrong-client');
        assert.equal((await store.getRefreshToken(first.tokenHash))?.rotatedAt, undefined);

        const expired = await store.rotateRefreshToken(rotation(granted, first, first.expiresAt));
        assert.equal(expired.status, 'expired');

        const unknown = await store.rotateRefreshToken(
          rotation(granted, { ...first, tokenHash: 'nope' }, T0 + 1),
        );
        assert.equal(unknown.status, 'not-found');

        await store.revokeGrant(granted.grantId, T0 + 2);
        const revoked = await store.rotateRefreshToken(rotation(granted, first, T0 + 3));
        assert.equal(revoked.status, 'revoked');
      });

      it('refuses once the family reaches its absolute end', async () => {
        const granted = grant({ expiresAt: T0 + 5000 });
        await store.putGrant(granted);
        const first = refreshToken(granted);
        await store.putRefreshToken(first);
        const result = await store.rotateRefreshToken(rotation(granted, first, T0 + 5000));
        assert.equal(result.status, 'expired');
      });

      it('two parallel refreshes with one token: one rotates, the other gets the same successor', async () => {
        const { granted, first } = await family();
        const a = rotation(granted, first, T0 + 1000);
        const b = rotation(granted, first, T0 + 1000);
        const results = await Promise.all([
          store.rotateRefreshToken(a),
          store.rotateRefreshToken(b),
        ]);
        const statuses = results.map((result) => result.status).sort();
        assert.deepEqual(statuses, ['grace', 'rotated']);
        const winner = results[0]?.status === 'rotated' ? a : b;
        const graced = results.find((result) => result.status === 'grace');
        assert.equal(graced?.status === 'grace' && graced.graceBlob, winner.graceBlob);
        const loser = winner === a ? b : a;
        assert.equal(await store.getRefreshToken(loser.successor.tokenHash), undefined);
      });
    });

    it('stores signing keys and updates their retirement', async () => {
      await store.putSigningKey({
        kid: 'k1',
        alg: 'ES256',
        privateJwk: { kty: 'EC', d: 'secret' },
        publicJwk: { kty: 'EC' },
        createdAt: T0,
        activatesAt: T0,
        retiresAt: undefined,
        expiresAt: undefined,
      });
      await store.putSigningKey({
        kid: 'k2',
        alg: 'ES256',
        privateJwk: { kty: 'EC', d: 'secret2' },
        publicJwk: { kty: 'EC' },
        createdAt: T0 + 1,
        activatesAt: T0 + 300_000,
        retiresAt: undefined,
        expiresAt: undefined,
      });
      await store.updateSigningKey('k1', { retiresAt: T0 + 300_000 });
      await store.updateSigningKey('k1', { expiresAt: T0 + 1_200_000 });
      const keys = await store.listSigningKeys();
      assert.deepEqual(
        keys.map((key) => key.kid),
        ['k1', 'k2'],
      );
      assert.equal(keys[0]?.retiresAt, T0 + 300_000);
      assert.equal(keys[0]?.expiresAt, T0 + 1_200_000);
      assert.deepEqual(keys[0]?.privateJwk, { kty: 'EC', d: 'secret' });
    });

    it('counts in fixed windows', async () => {
      const window = 60_000;
      const start = T0 - (T0 % window);
      assert.equal(await store.readCounter('login:x', window, start), 0);
      assert.equal(await store.incrementCounter('login:x', window, start + 1), 1);
      assert.equal(await store.incrementCounter('login:x', window, start + 2), 2);
      assert.equal(await store.readCounter('login:x', window, start + 3), 2);
      assert.equal(await store.incrementCounter('login:x', window, start + window), 1);
      assert.equal(await store.readCounter('login:x', window, start + window + 1), 1);
      const parallel = await Promise.all(
        Array.from({ length: 10 }, () => store.incrementCounter('login:y', window, start)),
      );
      assert.deepEqual(
        [...parallel].sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
    });

    it('keeps federated identities, tells local users apart, and swaps sealed provider tokens by compare-and-set', async () => {
      const subject = 'idp:contract-subject';
      assert.equal(await store.getFederatedIdentity(subject), undefined);
      await store.putUser({
        username: subject,
        passwordHash: 'federated$corp',
        disabled: false,
        createdAt: T0,
        updatedAt: T0,
      });
      await store.putFederatedIdentity({
        subject,
        provider: 'corp',
        issuer: 'https://idp.example',
        providerSubject: '248289761001',
        label: 'jane@example.com',
        allowedScopes: ['files:read'],
        sealedTokens: 'sealed-1',
        updatedAt: T0,
      });
      const stored = await store.getFederatedIdentity(subject);
      assert.equal(stored?.providerSubject, '248289761001');
      assert.equal(stored?.label, 'jane@example.com');
      assert.deepEqual(stored?.allowedScopes, ['files:read']);
      assert.equal(stored?.sealedTokens, 'sealed-1');
      // Compare-and-set: a stale expectation loses; the current one wins exactly once.
      assert.equal(
        await store.replaceProviderTokens(subject, 'sealed-0', 'sealed-x', T0 + 1),
        false,
      );
      const racers = await Promise.all([
        store.replaceProviderTokens(subject, 'sealed-1', 'sealed-2', T0 + 2),
        store.replaceProviderTokens(subject, 'sealed-1', 'sealed-3', T0 + 2),
      ]);
      assert.deepEqual(
        racers.filter(Boolean).length,
        1,
        'of two refreshes of the same tokens one wins',
      );
      const winner = (await store.getFederatedIdentity(subject))?.sealedTokens;
      assert.ok(winner === 'sealed-2' || winner === 'sealed-3');
      // Dropped (sign-out, revocation), then nothing is kept.
      assert.equal(await store.replaceProviderTokens(subject, winner, undefined, T0 + 3), true);
      assert.equal((await store.getFederatedIdentity(subject))?.sealedTokens, undefined);
      assert.equal(await store.replaceProviderTokens('idp:nobody', undefined, 's', T0), false);
      // hasLocalUsers: a federated person is not a local user.
      const onlyFederated = await factory.open();
      try {
        assert.equal(await onlyFederated.hasLocalUsers(), false);
        await onlyFederated.putUser({
          username: subject,
          passwordHash: 'federated$corp',
          disabled: false,
          createdAt: T0,
          updatedAt: T0,
        });
        await onlyFederated.putFederatedIdentity({ ...(stored as NonNullable<typeof stored>) });
        assert.equal(await onlyFederated.hasLocalUsers(), false);
        await onlyFederated.putUser({
          username: 'bob',
          passwordHash: 'scrypt$…',
          disabled: false,
          createdAt: T0,
          updatedAt: T0,
        });
        assert.equal(await onlyFederated.hasLocalUsers(), true);
      } finally {
        await onlyFederated.close();
      }
    });

    it('purges what has expired and keeps what still matters', async () => {
      const far = T0 + 400 * 86_400_000;
      const alive = code({ expiresAt: far + 60_000 });
      await store.putCode(alive);
      await store.putSession({ idHash: 'old-session', subject: 'a', createdAt: T0, expiresAt: T0 });
      const removed = await store.purgeExpired(far);
      assert.ok(removed > 0);
      assert.equal(await store.getSession('old-session'), undefined);
      assert.equal((await store.consumeCode(alive.codeHash, far)).status, 'consumed');
      const kids = (await store.listSigningKeys()).map((key) => key.kid);
      assert.ok(!kids.includes('k1'), 'a key past its expiry leaves');
      assert.ok(kids.includes('k2'), 'a key without expiry stays');
    });
  });
}
