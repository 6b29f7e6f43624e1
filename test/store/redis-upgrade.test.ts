/**
 * The Redis store's schema 2 (operator listings) against a real redis-server: a data set written
 * by schema 1 is upgraded in place when first opened (its grants become listable with their last
 * use, its users and clients read with no roles and enabled), and the listing indexes follow the
 * records they list (purged grants leave them), and `store migrate` snapshots carry roles and
 * disabled clients both ways. Schema 3 adds federated identities: snapshots carry them too.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryStore, RedisStore, SqliteStore, type Store } from '../../src/store/index.ts';
import { migrateStore } from '../../src/store/migrate.ts';
import { CODE_REPLAY_MEMORY_MS, STORE_SCHEMA_VERSION } from '../../src/store/types.ts';
import { tempDir } from '../helpers/cli.ts';
import { grant } from './contract.ts';
import { type RedisProcess, redisMissing, startRedis, testSettings } from './redis-harness.ts';

const missing = redisMissing();
const NOW = Date.now();
const DAY = 86_400_000;

describe('Redis store schema 2', { skip: missing }, () => {
  let server: RedisProcess;
  let raw: Redis;
  const opened: Store[] = [];
  const open = (keyPrefix: string) => {
    const store = new RedisStore(testSettings(server.url, { keyPrefix }));
    opened.push(store);
    return store;
  };

  before(async () => {
    server = await startRedis();
    raw = new Redis({ port: server.port, host: '127.0.0.1' });
  });
  after(async () => {
    for (const store of opened) await store.close();
    await raw.quit();
    await server.remove();
  });

  it('upgrades a schema-1 data set in place: grants listed with their last use, no roles, clients enabled', async () => {
    const p = 'v1:';
    // The records exactly as schema 1 laid them out (src/store/redis-keys.ts of that version).
    await raw.hset(`${p}{meta}`, 'schema', '1');
    await raw.hset(`${p}{users}:u:old-user`, {
      username: 'old-user',
      password_hash: 'scrypt$h',
      disabled: '0',
      created_at: NOW,
      updated_at: NOW,
    });
    await raw.sadd(`${p}{users}:all`, 'old-user');
    await raw.hset(`${p}{clients}:c:dyn_old`, {
      client_id: 'dyn_old',
      metadata: '{"client_name":"Old"}',
      created_at: NOW,
    });
    await raw.zadd(`${p}{clients}:never`, NOW, 'dyn_old');
    const grantFields = (id: string, createdAt: number, extra: Record<string, string> = {}) => ({
      grant_id: id,
      kind: 'authorization_code',
      subject: 'old-user',
      client_id: 'dyn_old',
      resource: 'https://gw.example/mcp',
      scopes: '["files:read"]',
      created_at: createdAt,
      expires_at: NOW + 90 * DAY,
      ...extra,
    });
    await raw.hset(`${p}{g:used}:grant`, grantFields('used', NOW + 1));
    await raw.hset(
      `${p}{g:revoked}:grant`,
      grantFields('revoked', NOW + 2, { revoked_at: String(NOW + 3) }),
    );
    // A tombstone (revocation of a grant never stored): never listed.
    await raw.hset(`${p}{g:ghost}:grant`, {
      ...grantFields('ghost', NOW),
      subject: '',
      client_id: '',
      revoked_at: String(NOW),
    });
    for (const [hash, issuedAt] of [
      ['rt-one', NOW + 100],
      ['rt-two', NOW + 500],
    ] as const) {
      await raw.hset(`${p}{g:used}:rt:${hash}`, {
        token_hash: hash,
        grant_id: 'used',
        client_id: 'dyn_old',
        subject: 'old-user',
        resource: 'https://gw.example/mcp',
        scopes: '["files:read"]',
        issued_at: issuedAt,
        expires_at: NOW + 30 * DAY,
      });
      await raw.set(`${p}rt:${hash}`, 'used');
    }

    const store = open(p);
    // Upgraded through every later schema to the current version.
    assert.equal(await store.schemaVersion(), STORE_SCHEMA_VERSION);
    assert.deepEqual(
      (await store.listGrants({ clientId: 'dyn_old' })).map((g) => [
        g.grantId,
        g.lastUsedAt,
        g.revokedAt,
      ]),
      [
        ['revoked', NOW + 2, NOW + 3],
        ['used', NOW + 500, undefined],
      ],
    );
    assert.deepEqual(
      (await store.listGrants({ subject: 'old-user', liveAt: NOW + 10 })).map((g) => g.grantId),
      ['used'],
    );
    assert.deepEqual(
      (await store.listGrants({})).map((g) => g.grantId),
      ['revoked', 'used'],
    );
    assert.deepEqual(
      (await store.listUsers()).map((u) => [u.username, u.roles]),
      [['old-user', []]],
    );
    const client = await store.getClient('dyn_old');
    assert.equal(client?.disabledAt, undefined);
    assert.deepEqual(
      (await store.listClients()).map((c) => c.clientId),
      ['dyn_old'],
    );
    assert.equal(await store.setClientDisabled('dyn_old', NOW + 7), true);
    assert.equal((await store.getClient('dyn_old'))?.disabledAt, NOW + 7);

    // A second replica opening the upgraded set finds schema 2 and lists the same.
    const replica = open(p);
    assert.equal((await replica.listGrants({ clientId: 'dyn_old' })).length, 2);
  });

  it('a purged grant leaves every listing index; an index entry without its grant is dropped when listed', async () => {
    const p = 'purge:';
    const store = open(p);
    const ended = grant({
      clientId: 'purge-client',
      subject: 'purge-user',
      createdAt: NOW - 100 * DAY,
      expiresAt: NOW - 10 * DAY,
    });
    const live = grant({
      clientId: 'purge-client',
      subject: 'purge-user',
      createdAt: NOW,
      expiresAt: NOW + 10 * DAY,
    });
    await store.putGrant(ended);
    await store.putGrant(live);
    assert.equal((await store.listGrants({ clientId: 'purge-client' })).length, 2);
    await store.purgeExpired(NOW + CODE_REPLAY_MEMORY_MS);
    for (const filter of [{}, { clientId: 'purge-client' }, { subject: 'purge-user' }]) {
      assert.deepEqual(
        (await store.listGrants(filter)).map((g) => g.grantId),
        [live.grantId],
      );
    }
    assert.equal(await raw.zscore(`${p}grants:all`, ended.grantId), null);
    assert.equal(await raw.zscore(`${p}grants:by-client:purge-client`, ended.grantId), null);
    assert.equal(await raw.zscore(`${p}grants:by-subject:purge-user`, ended.grantId), null);

    // Its record gone without a purge (its Redis TTL ran out): the listing drops the id.
    await raw.del(`${p}{g:${encodeURIComponent(live.grantId)}}:grant`);
    assert.deepEqual(await store.listGrants({ subject: 'purge-user' }), []);
    assert.equal(await raw.zscore(`${p}grants:by-subject:purge-user`, live.grantId), null);
    // Positive control: a grant put now is listed.
    const fresh = grant({ clientId: 'purge-client', subject: 'purge-user', createdAt: NOW + 1 });
    await store.putGrant(fresh);
    assert.deepEqual(
      (await store.listGrants({ subject: 'purge-user' })).map((g) => g.grantId),
      [fresh.grantId],
    );
  });

  it('a snapshot carries roles and disabled clients memory → Redis → SQLite', async () => {
    const source = new MemoryStore();
    await source.putUser({
      username: 'root-op',
      passwordHash: 'h',
      disabled: false,
      roles: ['admin'],
      createdAt: NOW,
      updatedAt: NOW,
    });
    for (const [clientId, disabledAt] of [
      ['dyn-off', NOW + 9],
      ['dyn-on', undefined],
    ] as const) {
      await source.putClient({
        clientId,
        secretHash: undefined,
        metadata: { client_name: clientId },
        createdAt: NOW,
        lastUsedAt: undefined,
        ...(disabledAt === undefined ? {} : { disabledAt }),
      });
    }
    const redis = open('carry:');
    await redis.importSnapshot(await source.exportSnapshot());
    const sqlite = new SqliteStore(join(tempDir(), 'carried.db'));
    try {
      await sqlite.importSnapshot(await redis.exportSnapshot());
      for (const store of [redis, sqlite]) {
        assert.deepEqual((await store.getUser('root-op'))?.roles, ['admin'], store.backend);
        assert.equal((await store.getClient('dyn-off'))?.disabledAt, NOW + 9, store.backend);
        // Positive control: the enabled one stays enabled.
        assert.equal((await store.getClient('dyn-on'))?.disabledAt, undefined, store.backend);
      }
    } finally {
      await sqlite.close();
    }
  });

  it('a snapshot carries federated identities, their provider tokens still sealed, memory → Redis → SQLite', async () => {
    const identity = {
      subject: 'idp:carried',
      provider: 'corp',
      issuer: 'https://idp.example',
      providerSubject: '248289761001',
      label: 'jane@example.com',
      allowedScopes: ['files:read'],
      sealedTokens: 'v1.sealed-provider-tokens',
      updatedAt: NOW,
    };
    const source = new MemoryStore();
    await source.putUser({
      username: identity.subject,
      passwordHash: 'federated$corp',
      disabled: false,
      createdAt: NOW,
      updatedAt: NOW,
    });
    await source.putFederatedIdentity(identity);
    const redis = open('carry-federated:');
    assert.equal((await migrateStore(source, redis, { force: false })).status, 'migrated');
    // A second run finds the identity already there, field for field.
    assert.equal((await migrateStore(source, redis, { force: false })).status, 'up-to-date');
    const sqlite = new SqliteStore(join(tempDir(), 'carried-federated.db'));
    try {
      assert.equal((await migrateStore(redis, sqlite, { force: false })).status, 'migrated');
      for (const store of [redis, sqlite]) {
        assert.deepEqual(
          await store.getFederatedIdentity(identity.subject),
          identity,
          store.backend,
        );
        // The carried person is federated, so no local user came along.
        assert.equal(await store.hasLocalUsers(), false, store.backend);
        // The carried tokens are the ones compare-and-set expects.
        assert.equal(
          await store.replaceProviderTokens(identity.subject, 'v1.other', undefined, NOW + 1),
          false,
          store.backend,
        );
        assert.equal(
          await store.replaceProviderTokens(
            identity.subject,
            identity.sealedTokens,
            undefined,
            NOW + 1,
          ),
          true,
          store.backend,
        );
      }
    } finally {
      await sqlite.close();
    }
  });
});
