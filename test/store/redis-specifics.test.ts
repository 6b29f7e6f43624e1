/**
 * What only the Redis backend has to prove: atomicity across separate connections (replicas),
 * fail-closed while Redis is down and recovery without a new store, durability across a Redis
 * restart (AOF), key prefixes, ACL credentials, TLS with a CA file, the schema guard, revocation
 * messages, and snapshots moving between backends.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import {
  describeRedisUrl,
  MemoryStore,
  RedisStore,
  SqliteStore,
  STORE_SCHEMA_VERSION,
  type Store,
  StoreSchemaError,
  type StoreSnapshot,
  StoreUnavailableError,
} from '../../src/store/index.ts';
import { tempDir } from '../helpers/cli.ts';
import { accessToken, grant, refreshToken } from './contract.ts';
import {
  freePort,
  type RedisProcess,
  redisMissing,
  startRedis,
  testSettings,
  waitUntilAnswering,
} from './redis-harness.ts';

const missing = redisMissing();
const NOW = Date.now();

const user = (username: string) => ({
  username,
  passwordHash: `hash-of-${username}`,
  disabled: false,
  createdAt: NOW,
  updatedAt: NOW,
});

describe('Redis store specifics', { skip: missing }, () => {
  let server: RedisProcess;
  const opened: Store[] = [];
  const open = (overrides: Parameters<typeof testSettings>[1] = {}) => {
    const store = new RedisStore(testSettings(server.url, overrides));
    opened.push(store);
    return store;
  };

  before(async () => {
    server = await startRedis({ aof: true });
  });
  after(async () => {
    for (const store of opened) await store.close();
    await server.remove();
  });

  it('two replicas racing over 200 codes and 200 refresh tokens: each is won exactly once', async () => {
    const settings = testSettings(server.url);
    const setup = new RedisStore(settings);
    const codes = Array.from({ length: 200 }, (_, index) => `code-${index}`);
    const tokens = Array.from({ length: 200 }, (_, index) => `rt-${index}`);
    for (const code of codes) {
      await setup.putCode({
        codeHash: code,
        grantId: `g-${code}`,
        clientId: 'c',
        subject: 's',
        redirectUri: 'http://127.0.0.1/cb',
        codeChallenge: 'x',
        resource: 'r',
        scopes: [],
        createdAt: NOW,
        expiresAt: NOW + 60_000,
        consumedAt: undefined,
      });
    }
    for (const token of tokens) {
      const family = grant({
        grantId: `g-${token}`,
        clientId: 'c',
        createdAt: NOW,
        expiresAt: NOW + 86_400_000,
      });
      await setup.putGrant(family);
      await setup.putRefreshToken(
        refreshToken(family, { tokenHash: token, issuedAt: NOW, expiresAt: NOW + 3_600_000 }),
      );
    }
    await setup.close();
    // Both workers start firing together (a barrier), so their commands interleave.
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const run = (name: string) =>
      new Promise<{ consumed: string[]; rotated: string[] }>((resolve, reject) => {
        const worker = new Worker(new URL('./redis-worker.ts', import.meta.url), {
          workerData: { settings, codes, tokens, name, now: NOW + 1000, barrier },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    const [a, b] = await Promise.all([run('a'), run('b')]);
    assert.deepEqual([...a.consumed, ...b.consumed].sort(), [...codes].sort());
    assert.deepEqual([...a.rotated, ...b.rotated].sort(), [...tokens].sort());
  });

  it('keeps deployments apart by key prefix', async () => {
    const blue = open({ keyPrefix: 'blue:' });
    const green = open({ keyPrefix: 'green:' });
    await blue.putUser(user('shared-name'));
    assert.ok(await blue.getUser('shared-name'));
    assert.equal(await green.getUser('shared-name'), undefined);
    assert.deepEqual((await green.exportSnapshot()).users, []);
  });

  it('refuses a data set written by a newer schema', async () => {
    const prefix = 'future:';
    const raw = new Redis({ port: server.port, host: '127.0.0.1' });
    await raw.hset(`${prefix}{meta}`, 'schema', '99');
    await raw.quit();
    const store = open({ keyPrefix: prefix });
    await assert.rejects(store.getUser('anyone'), StoreSchemaError);
  });

  it('raises a data set of schema 1 to the current version, keeping its records', async () => {
    const prefix = 'older:';
    const raw = new Redis({ port: server.port, host: '127.0.0.1' });
    try {
      await raw.hset(`${prefix}{meta}`, 'schema', '1');
      const store = open({ keyPrefix: prefix });
      await store.putUser(user('kept'));
      assert.ok(await store.getUser('kept'));
      assert.equal(await store.schemaVersion(), STORE_SCHEMA_VERSION);
      // From then on a replica that knows only schema 1 (it would ignore a DPoP binding) is
      // refused: the data set holds a version newer than its own.
      assert.equal(Number(await raw.hget(`${prefix}{meta}`, 'schema')), STORE_SCHEMA_VERSION);
      assert.ok(STORE_SCHEMA_VERSION > 1);
    } finally {
      await raw.quit();
    }
  });

  it('publishes each new revocation for the replicas, once', async () => {
    const store = open({ keyPrefix: 'pubsub:' });
    const subscriber = new Redis({ port: server.port, host: '127.0.0.1' });
    const messages: string[] = [];
    subscriber.on('message', (_channel, message) => messages.push(message));
    await subscriber.subscribe('pubsub:revocations');
    const family = grant({ createdAt: NOW, expiresAt: NOW + 86_400_000 });
    await store.putGrant(family);
    const token = accessToken(family, { expiresAt: NOW + 900_000 });
    await store.putAccessToken(token);
    await store.revokeGrant(family.grantId, NOW + 1);
    await store.revokeGrant(family.grantId, NOW + 2);
    await store.revokeAccessToken(token.jti, NOW + 3);
    // A PING on the subscriber connection answers after every message published before it.
    await subscriber.ping();
    assert.deepEqual(messages, [`grant:${family.grantId}`, `jti:${token.jti}`]);
    await subscriber.quit();
  });

  it('moves a snapshot memory → Redis → SQLite unchanged, and importing twice changes nothing', async () => {
    const source = new MemoryStore();
    const family = grant({ createdAt: NOW, expiresAt: NOW + 86_400_000 });
    const revoked = grant({ createdAt: NOW, expiresAt: NOW + 86_400_000 });
    await source.putUser(user('mover'));
    await source.putClient({
      clientId: 'dyn-move',
      secretHash: 'h',
      metadata: { client_name: 'Mover', redirect_uris: ['http://127.0.0.1/cb'] },
      createdAt: NOW,
      lastUsedAt: NOW + 5,
    });
    await source.putConsent({
      subject: 'mover',
      clientId: 'dyn-move',
      scopes: ['a'],
      resources: ['https://gw.example/mcp'],
      grantedAt: NOW,
    });
    await source.putGrant(family);
    await source.putGrant(revoked);
    await source.revokeGrant(revoked.grantId, NOW + 1);
    await source.putRefreshToken(
      refreshToken(family, { issuedAt: NOW, expiresAt: NOW + 3_600_000 }),
    );
    await source.putAccessToken(accessToken(family, { expiresAt: NOW + 900_000 }));
    await source.putSigningKey({
      kid: 'move-key',
      alg: 'ES256',
      privateJwk: { kty: 'EC', d: 'secret' },
      publicJwk: { kty: 'EC' },
      createdAt: NOW,
      activatesAt: NOW,
      retiresAt: undefined,
      expiresAt: undefined,
    });
    const snapshot = await source.exportSnapshot();
    const redis = open({ keyPrefix: 'move:' });
    await redis.importSnapshot(snapshot);
    await redis.importSnapshot(snapshot);
    const viaRedis = await redis.exportSnapshot();
    assert.deepEqual(normalise(viaRedis), normalise(snapshot));
    const sqlite = new SqliteStore(join(tempDir(), 'moved.db'));
    await sqlite.importSnapshot(viaRedis);
    await sqlite.importSnapshot(viaRedis);
    assert.deepEqual(normalise(await sqlite.exportSnapshot()), normalise(snapshot));
    assert.equal((await sqlite.getGrant(revoked.grantId))?.revokedAt, NOW + 1);
    await sqlite.close();
  });

  it('fails closed while Redis is down and recovers without a new store; acknowledged writes survive', async () => {
    const store = open({ keyPrefix: 'outage:', commandTimeoutMs: 300 });
    const family = grant({ createdAt: NOW, expiresAt: NOW + 86_400_000 });
    const first = refreshToken(family, { issuedAt: NOW, expiresAt: NOW + 3_600_000 });
    await store.putUser(user('survivor'));
    await store.putGrant(family);
    await store.putRefreshToken(first);
    await store.putClient({
      clientId: 'dyn-survivor',
      secretHash: undefined,
      metadata: { client_name: 'Survivor' },
      createdAt: NOW,
      lastUsedAt: undefined,
    });
    await server.stop();
    const down: Array<[string, () => Promise<unknown>]> = [
      ['revocation check', () => store.isAccessTokenRevoked('any-jti')],
      ['code redemption', () => store.consumeCode('any-code', NOW)],
      [
        'refresh rotation',
        () =>
          store.rotateRefreshToken({
            tokenHash: first.tokenHash,
            clientId: first.clientId,
            now: NOW + 1,
            graceMs: 0,
            successor: refreshToken(family, { issuedAt: NOW + 1, expiresAt: NOW + 3_600_000 }),
            accessToken: accessToken(family, { expiresAt: NOW + 900_000 }),
            graceBlob: 'blob',
          }),
      ],
      ['login throttle', () => store.incrementCounter('login:x', 60_000, NOW)],
      ['user lookup', () => store.getUser('survivor')],
    ];
    for (const [name, call] of down) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError, `${name}: ${String(error)}`);
        assert.ok(error.retryAfterSeconds >= 1);
        assert.doesNotMatch(error.message, /password/i);
        return true;
      });
    }
    await server.restart();
    // The client reconnects by itself (backoff of at most a second); wait for it.
    await waitUntilAnswering(store);
    // Positive control: the same store object serves again, and nothing acknowledged was lost.
    assert.equal((await store.getUser('survivor'))?.passwordHash, 'hash-of-survivor');
    assert.equal((await store.getClient('dyn-survivor'))?.metadata.client_name, 'Survivor');
    assert.equal((await store.getRefreshToken(first.tokenHash))?.grantId, family.grantId);
    assert.equal((await store.getGrant(family.grantId))?.revokedAt, undefined);
  });
});

describe('Redis connection options', { skip: missing }, () => {
  it('never shows the URL credentials', () => {
    const shown = describeRedisUrl('rediss://portcullis:s3cret-pw@redis.internal:6380/2');
    assert.equal(shown, 'rediss://redis.internal:6380/2');
  });

  it('authenticates with an ACL user and password, and fails closed with wrong ones', async () => {
    const server = await startRedis({
      extraArgs: [
        ...['--user', 'default', 'off'],
        ...['--user', 'gateway', 'on', '>gw-password-123', '~*', '&*', '+@all'],
      ],
    });
    const cases: Array<[string, { username?: string; password?: string }]> = [
      ['no credentials', {}],
      ['wrong password', { username: 'gateway', password: 'nope' }],
      ['unknown user', { username: 'intruder', password: 'gw-password-123' }],
    ];
    try {
      for (const [name, credentials] of cases) {
        const store = new RedisStore({ ...testSettings(server.url), ...credentials });
        await assert.rejects(store.getUser('x'), StoreUnavailableError, name);
        await store.close();
      }
      const good = new RedisStore({
        ...testSettings(server.url),
        username: 'gateway',
        password: 'gw-password-123',
      });
      await good.putUser(user('acl-user'));
      assert.equal((await good.getUser('acl-user'))?.username, 'acl-user');
      await good.close();
    } finally {
      await server.remove();
    }
  });

  it('speaks TLS (rediss://) with a CA file, and refuses a server its CA did not sign', async () => {
    const dir = tempDir();
    const openssl = (args: string[]) => {
      const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
    };
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=Test Redis CA',
    ]);
    openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=127.0.0.1',
    ]);
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    openssl([
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
    ]);
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'other.key',
      '-out',
      'other-ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=Other CA',
    ]);
    const tlsPort = await freePort();
    const server = await startRedis({
      extraArgs: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        join(dir, 'server.pem'),
        '--tls-key-file',
        join(dir, 'server.key'),
        '--tls-ca-cert-file',
        join(dir, 'ca.pem'),
        '--tls-auth-clients',
        'no',
      ],
    });
    try {
      const url = `rediss://127.0.0.1:${tlsPort}`;
      const wrongCa = new RedisStore({
        ...testSettings(url),
        tlsCaFile: join(dir, 'other-ca.pem'),
      });
      await assert.rejects(wrongCa.getUser('x'), StoreUnavailableError);
      await wrongCa.close();
      const store = new RedisStore({ ...testSettings(url), tlsCaFile: join(dir, 'ca.pem') });
      await store.putUser(user('tls-user'));
      assert.equal((await store.getUser('tls-user'))?.username, 'tls-user');
      await store.close();
    } finally {
      await server.remove();
    }
  });
});

/** Snapshots compare without regard to order. */
function normalise(snapshot: StoreSnapshot) {
  const sorted = <T>(items: readonly T[], key: (item: T) => string) =>
    [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    users: sorted(snapshot.users, (u) => u.username),
    clients: sorted(snapshot.clients, (c) => c.clientId),
    consents: sorted(snapshot.consents, (c) => `${c.subject}\u0000${c.clientId}`),
    grants: sorted(snapshot.grants, (g) => g.grantId),
    refreshTokens: sorted(snapshot.refreshTokens, (t) => t.tokenHash),
    accessTokens: sorted(snapshot.accessTokens, (t) => t.jti),
    signingKeys: sorted(snapshot.signingKeys, (k) => k.kid),
  };
}
