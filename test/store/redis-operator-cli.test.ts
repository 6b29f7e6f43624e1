/**
 * The operator commands (users, clients, grants) on a deployment whose store is Redis, against a
 * real redis-server: they see and change the same state as on SQLite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GrantRecord, RedisStore, type Store } from '../../src/store/index.ts';
import { runCli, tempFile } from '../helpers/cli.ts';
import { type RedisProcess, redisMissing, startRedis, testSettings } from './redis-harness.ts';

const missing = redisMissing();
const NOW = Date.now();
const DAY = 86_400_000;

const grant = (grantId: string, subject: string, createdAt: number): GrantRecord => ({
  grantId,
  kind: 'authorization_code',
  subject,
  clientId: 'dyn_one',
  resource: 'http://127.0.0.1:8080/mcp',
  scopes: ['files:read'],
  createdAt,
  expiresAt: NOW + 30 * DAY,
  revokedAt: undefined,
});

describe('operator commands on a Redis store', { skip: missing }, () => {
  let server: RedisProcess;
  let store: Store;
  let path: string;
  const prefix = 'ops:';
  before(async () => {
    server = await startRedis();
    store = new RedisStore(testSettings(`${server.url}/0`, { keyPrefix: prefix }));
    path = tempFile(
      'portcullis.yaml',
      [
        'remote_mcp:',
        '  allowed_scopes: [files:read]',
        'upstreams:',
        '  - { name: files, path: /mcp, command: node }',
        'authorization_server: { enabled: true }',
        'store:',
        `  redis: ${server.url}/0`,
        '  redis_options:',
        `    key_prefix: "${prefix}"`,
        '',
      ].join('\n'),
    );
    await store.putUser({
      username: 'bob',
      passwordHash: 'scrypt$x',
      disabled: false,
      createdAt: NOW,
      updatedAt: NOW,
    });
    await store.putClient({
      clientId: 'dyn_one',
      secretHash: undefined,
      metadata: { client_name: 'Self Named', redirect_uris: ['http://127.0.0.1/callback'] },
      createdAt: NOW - 3 * DAY,
      lastUsedAt: NOW - 1000,
    });
    await store.putGrant(grant('g-alice', 'alice', NOW - 2 * DAY));
    await store.putGrant(grant('g-bob', 'bob', NOW - DAY));
    await store.putRefreshToken({
      tokenHash: 'rt-alice',
      grantId: 'g-alice',
      clientId: 'dyn_one',
      subject: 'alice',
      resource: 'http://127.0.0.1:8080/mcp',
      scopes: ['files:read'],
      issuedAt: NOW - 5000,
      expiresAt: NOW + DAY,
      rotatedAt: undefined,
      successorHash: undefined,
      graceBlob: undefined,
    });
  });
  after(async () => {
    await store.close();
    await server.remove();
  });

  it('users add --role admin, then users list shows the roles', async () => {
    const added = await runCli(['users', 'add', 'carol', '--role', 'admin', '--config', path]);
    assert.equal(added.code, 0, added.stderr);
    const listed = await runCli(['users', 'list', '--json', '--config', path]);
    assert.equal(listed.code, 0, listed.stderr);
    const users = JSON.parse(listed.stdout).users as { username: string; roles: string[] }[];
    assert.deepEqual(
      users.map((u) => [u.username, u.roles]),
      [
        ['bob', []],
        ['carol', ['admin']],
      ],
    );
    assert.deepEqual((await store.getUser('carol'))?.roles, ['admin']);
  });

  it('grants list shows each grant with its last use, newest first', async () => {
    const listed = await runCli(['grants', 'list', '--json', '--config', path]);
    assert.equal(listed.code, 0, listed.stderr);
    const grants = JSON.parse(listed.stdout).grants as { grant_id: string }[];
    assert.deepEqual(
      grants.map((g) => g.grant_id),
      ['g-bob', 'g-alice'],
    );
    const alice = await store.listGrants({ subject: 'alice' });
    assert.equal(alice[0]?.lastUsedAt, NOW - 5000);
  });

  it('clients disable revokes its grants and marks it; enable and delete follow', async () => {
    const disabled = await runCli(['clients', 'disable', 'dyn_one', '--json', '--config', path]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.deepEqual(JSON.parse(disabled.stdout), {
      client_id: 'dyn_one',
      disabled: true,
      revoked_grants: 2,
    });
    assert.notEqual((await store.getClient('dyn_one'))?.disabledAt, undefined);
    assert.deepEqual(await store.listGrants({ clientId: 'dyn_one', liveAt: NOW }), []);
    const enabled = await runCli(['clients', 'enable', 'dyn_one', '--config', path]);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.equal((await store.getClient('dyn_one'))?.disabledAt, undefined);
    const deleted = await runCli(['clients', 'delete', 'dyn_one', '--config', path]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(await store.getClient('dyn_one'), undefined);
    assert.deepEqual(await store.listClients(), []);
  });
});
