import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { SqliteStore, STORE_SCHEMA_VERSION, StoreSchemaError } from '../../src/store/index.ts';
import { MIGRATIONS } from '../../src/store/sqlite-schema.ts';
import { tempDir } from '../helpers/cli.ts';
import { describeStoreContract } from './contract.ts';

describeStoreContract('sqlite (file)', {
  open: async () => new SqliteStore(join(tempDir(), 'store.db')),
});

describe('SQLite backend specifics', () => {
  it('has one migration per schema version', () => {
    assert.equal(MIGRATIONS.length, STORE_SCHEMA_VERSION);
  });

  it('keeps data across reopening and creates the file owner-only', async () => {
    const path = join(tempDir(), 'nested', 'store.db');
    const first = new SqliteStore(path);
    await first.putUser({
      username: 'alice',
      passwordHash: 'h',
      disabled: false,
      createdAt: 1,
      updatedAt: 1,
    });
    await first.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = new SqliteStore(path);
    assert.equal((await second.getUser('alice'))?.passwordHash, 'h');
    assert.equal(await second.schemaVersion(), STORE_SCHEMA_VERSION);
    await second.close();
  });

  it('refuses a database written by a newer schema', () => {
    const path = join(tempDir(), 'future.db');
    const raw = new DatabaseSync(path);
    raw.exec(`PRAGMA user_version = ${STORE_SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => new SqliteStore(path), StoreSchemaError);
  });

  it('two connections to one file: a code is consumed by exactly one', async () => {
    const path = join(tempDir(), 'shared.db');
    const a = new SqliteStore(path);
    const b = new SqliteStore(path);
    await a.putCode({
      codeHash: 'shared-code',
      grantId: 'g',
      clientId: 'c',
      subject: 's',
      redirectUri: 'http://127.0.0.1/cb',
      codeChallenge: 'x',
      resource: 'https://gw.example/mcp',
      scopes: [],
      createdAt: 1,
      expiresAt: 60_001,
      consumedAt: undefined,
    });
    const results = await Promise.all([
      a.consumeCode('shared-code', 2),
      b.consumeCode('shared-code', 3),
    ]);
    assert.deepEqual(results.map((result) => result.status).sort(), ['consumed', 'replayed']);
    await a.close();
    await b.close();
  });
});

describe('SQLite migration 1 → 2 (roles, disabled clients)', () => {
  it('keeps users and clients written by schema 1; new fields start empty', async () => {
    const path = join(tempDir(), 'v1.db');
    const v1 = new DatabaseSync(path);
    v1.exec(MIGRATIONS[0] ?? '');
    v1.exec('PRAGMA user_version = 1');
    v1.exec(
      `INSERT INTO users VALUES ('old', 'scrypt$h', 0, 1, 1);
       INSERT INTO clients VALUES ('dyn_old', NULL, '{"client_name":"Old"}', 1, NULL);`,
    );
    v1.close();
    const store = new SqliteStore(path);
    try {
      // Upgraded through every later migration to the current version.
      assert.equal(await store.schemaVersion(), STORE_SCHEMA_VERSION);
      assert.deepEqual((await store.getUser('old'))?.roles, []);
      assert.equal((await store.getClient('dyn_old'))?.disabledAt, undefined);
      assert.equal(await store.setClientDisabled('dyn_old', 5), true);
      assert.equal((await store.getClient('dyn_old'))?.disabledAt, 5);
    } finally {
      await store.close();
    }
  });
});
