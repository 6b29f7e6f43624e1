/**
 * The store-touching commands against a real redis-server: `users add` and `keys rotate` work on
 * Redis exactly as on SQLite, and `store migrate` moves the state both ways, refuses a target
 * holding other data without --force, and is harmless to run twice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyPassword } from '../../src/authorization-server/index.ts';
import { RedisStore, SqliteStore, type Store } from '../../src/store/index.ts';
import { runCli, tempDir, tempFile } from '../helpers/cli.ts';
import {
  freePort,
  type RedisProcess,
  redisMissing,
  startRedis,
  testSettings,
} from './redis-harness.ts';

const missing = redisMissing();

function config(store: string, extra: string[] = []): string {
  return tempFile(
    'portcullis.yaml',
    [
      'remote_mcp:',
      '  allowed_scopes: [files:read]',
      'upstreams:',
      '  - { name: files, path: /mcp, command: node }',
      'authorization_server: { enabled: true }',
      'store:',
      `  ${store}`,
      ...extra,
      '',
    ].join('\n'),
  );
}

/** The one-time password `users add` prints. */
const shownPassword = (stdout: string) => /password \(shown once\): (\S+)/.exec(stdout)?.[1] ?? '';

async function withStore<T>(store: Store, work: (store: Store) => Promise<T>): Promise<T> {
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

describe('store commands on Redis', { skip: missing }, () => {
  let server: RedisProcess;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server.remove();
  });

  const redisConfig = (prefix: string) =>
    config(`redis: ${server.url}/0`, [
      '  redis_options:',
      `    key_prefix: "${prefix}"`,
      '    password_env: TEST_REDIS_PASSWORD',
    ]);
  const redisStore = (prefix: string) =>
    new RedisStore(testSettings(`${server.url}/0`, { keyPrefix: prefix }));

  it('users add and keys rotate write to Redis', async () => {
    const path = redisConfig('cli-a:');
    const env = { TEST_REDIS_PASSWORD: 'env-password-not-shown' };
    const added = await runCli(['users', 'add', 'alice', '--config', path], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /created user alice/);
    assert.doesNotMatch(added.stdout + added.stderr, /env-password-not-shown/);
    const rotated = await runCli(['keys', 'rotate', '--config', path], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    await withStore(redisStore('cli-a:'), async (store) => {
      const alice = await store.getUser('alice');
      assert.ok(alice && (await verifyPassword(shownPassword(added.stdout), alice.passwordHash)));
      assert.equal((await store.listSigningKeys()).length, 1);
    });
  });

  it('migrates SQLite → Redis → SQLite; refuses a target with other data without --force; re-runs are harmless', async () => {
    const dir = tempDir();
    const db = join(dir, 'source.db');
    const sqliteConfig = config(`sqlite: ${JSON.stringify(db)}`);
    const added = await runCli(['users', 'add', 'bob', '--config', sqliteConfig]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await runCli(['keys', 'rotate', '--config', sqliteConfig])).code, 0);
    await withStore(new SqliteStore(db), async (store) => {
      await store.putClient({
        clientId: 'dyn-1',
        secretHash: undefined,
        metadata: { client_name: 'One' },
        createdAt: Date.now(),
        lastUsedAt: undefined,
      });
    });
    // Credentials in the URL are used but never shown.
    const url = `redis://default:url-password-not-shown@127.0.0.1:${server.port}/0`;
    const to = ['store', 'migrate', '--from', `sqlite:${db}`, '--to', url, '--key-prefix', 'mig:'];
    const copied = await runCli(to);
    assert.doesNotMatch(copied.stdout + copied.stderr, /url-password-not-shown/);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(
      copied.stdout,
      /copied 1 users, 1 clients, 0 consents, 0 grants, 0 refresh tokens, 0 access tokens, 1 signing keys/,
    );
    const again = await runCli(to);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to do/);

    await withStore(redisStore('mig:'), async (store) => {
      const bob = await store.getUser('bob');
      assert.ok(bob && (await verifyPassword(shownPassword(added.stdout), bob.passwordHash)));
      assert.equal((await store.getClient('dyn-1'))?.metadata.client_name, 'One');
    });

    // A target holding other data: refused, untouched; --force writes.
    await withStore(redisStore('other:'), (store) =>
      store.putUser({
        username: 'zed',
        passwordHash: 'h',
        disabled: false,
        createdAt: 1,
        updatedAt: 1,
      }),
    );
    const intoOther = [
      'store',
      'migrate',
      '--from',
      `sqlite:${db}`,
      '--to',
      `${server.url}/0`,
      '--key-prefix',
      'other:',
    ];
    const refused = await runCli(intoOther);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /already holds data \(1 users.*--force/);
    await withStore(redisStore('other:'), async (store) => {
      assert.equal(await store.getUser('bob'), undefined, 'nothing was written');
    });
    const forced = await runCli([...intoOther, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    await withStore(redisStore('other:'), async (store) => {
      assert.ok(await store.getUser('bob'));
      assert.ok(await store.getUser('zed'), 'records with other ids stay');
    });

    // And back: Redis → a new SQLite file.
    const back = join(dir, 'back.db');
    const reverse = await runCli([
      'store',
      'migrate',
      '--from',
      `${server.url}/0`,
      '--to',
      `sqlite:${back}`,
      '--key-prefix',
      'mig:',
    ]);
    assert.equal(reverse.code, 0, reverse.stderr);
    await withStore(new SqliteStore(back), async (store) => {
      assert.ok(await store.getUser('bob'));
      assert.equal((await store.listSigningKeys()).length, 1);
    });
  });

  it('fails closed when Redis cannot be reached, without showing the password', async () => {
    const closed = await freePort();
    const path = config(`redis: redis://:pw-not-shown-123@127.0.0.1:${closed}/0`, [
      '  redis_options: { command_timeout_ms: 300 }',
    ]);
    for (const argv of [
      ['users', 'add', 'nobody', '--config', path],
      ['keys', 'rotate', '--config', path],
    ]) {
      const result = await runCli(argv);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(
        result.stderr,
        /StoreUnavailable: the Redis store at redis:\/\/127\.0\.0\.1:\d+\/0 did not answer/,
      );
      assert.doesNotMatch(result.stderr + result.stdout, /pw-not-shown-123/);
    }
  });

  it('refuses malformed invocations with usage errors', async () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['no --from', ['store', 'migrate', '--to', 'sqlite:x.db'], /--from STORE is required/],
      ['no --to', ['store', 'migrate', '--from', 'sqlite:x.db'], /--to STORE is required/],
      [
        'same store',
        ['store', 'migrate', '--from', 'sqlite:x.db', '--to', 'sqlite:x.db'],
        /same store/,
      ],
      [
        'unknown scheme',
        ['store', 'migrate', '--from', 'mysql://h/db', '--to', 'sqlite:x.db'],
        /must be sqlite:PATH/,
      ],
      [
        'brace in prefix',
        [
          'store',
          'migrate',
          '--from',
          'sqlite:a.db',
          '--to',
          'redis://127.0.0.1:1/0',
          '--key-prefix',
          'a{b}',
        ],
        /may not contain/,
      ],
      ['unknown subcommand', ['store', 'migrat'], /did you mean migrate/],
    ];
    for (const [name, argv, message] of cases) {
      const result = await runCli(argv, {}, tempDir());
      assert.equal(result.code, 2, name);
      assert.match(result.stderr, message, name);
    }
    const help = await runCli(['store', 'migrate', '--help']);
    assert.equal(help.code, 0, 'positive control: --help works');
    assert.match(help.stdout, /Usage: portcullis store migrate/);
  });
});
