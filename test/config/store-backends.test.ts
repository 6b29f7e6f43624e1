/**
 * One rule decides which store settings this version can open, and every command obeys it:
 * `config check` never calls valid a config that `serve`, `users add` or `keys rotate` refuses.
 * Each command runs as a real process; each refusal must name the key. The positive controls
 * (the same config with Redis settings that can work, and on SQLite) come last.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigText, unavailableStoreBackends } from '../../src/config/index.ts';
import { isConfigError } from '../../src/errors/index.ts';
import { openStore } from '../../src/store/index.ts';
import { spawnCliAsync, tempDir, tempFile } from '../helpers/cli.ts';
import { mutate, VALID_ENV } from '../helpers/configs.ts';

const withStore = (store: Record<string, unknown>) =>
  mutate((d) => {
    d.remote_mcp.bind_address = '127.0.0.1:0';
    d.authorization_server = { enabled: true };
    d.store = store;
  });

const IMPOSSIBLE_STORE = {
  redis: 'redis://127.0.0.1:6379/0',
  redis_options: { cluster: true, sentinel: { master_name: 'm', nodes: ['127.0.0.1:26379'] } },
};
const REDIS = withStore(IMPOSSIBLE_STORE);
const REFUSAL = ['store.redis_options', 'cluster and sentinel exclude each other'];

describe('store backends: one rule for every command', () => {
  const redisConfig = tempFile('redis.yaml', REDIS);
  const commands: { name: string; argv: string[] }[] = [
    { name: 'config check', argv: ['config', 'check', '--config', redisConfig] },
    { name: 'serve --describe', argv: ['serve', '--describe', '--config', redisConfig] },
    {
      name: 'serve',
      argv: ['serve', '--config', redisConfig, '--enable-remote-mcp', '--bind', '127.0.0.1:0'],
    },
    {
      name: 'users add',
      argv: ['users', 'add', 'alice', '--config', redisConfig],
    },
    { name: 'keys rotate', argv: ['keys', 'rotate', '--config', redisConfig] },
  ];
  for (const command of commands) {
    it(`${command.name} refuses an impossible Redis setting, naming it`, async () => {
      const result = await spawnCliAsync(command.argv, VALID_ENV, tempDir());
      assert.equal(result.code, 2, result.stdout + result.stderr);
      for (const text of REFUSAL) assert.ok(result.stderr.includes(text), result.stderr);
    });
  }

  it('loading applies the rule that openStore applies (same issues)', () => {
    const issues = unavailableStoreBackends(IMPOSSIBLE_STORE);
    assert.deepEqual(
      issues.map((issue) => issue.path),
      ['store.redis_options'],
    );
    assert.throws(
      () => loadConfigText(REDIS, { env: VALID_ENV }),
      (error: unknown) =>
        isConfigError(error) &&
        issues.every((issue) => error.issues.some((found) => found.message === issue.message)),
    );
    const handBuilt = {
      source: 'hand-built',
      config: { store: IMPOSSIBLE_STORE },
    } as unknown as Parameters<typeof openStore>[0];
    assert.throws(
      () => openStore(handBuilt, tempDir()),
      (error: unknown) => isConfigError(error) && error.issues[0]?.message === issues[0]?.message,
    );
  });

  it('positive control: Redis settings that can work pass config check and serve --describe', async () => {
    const redis = tempFile(
      'redis-ok.yaml',
      withStore({ redis: 'redis://127.0.0.1:6379/0', redis_options: { cluster: true } }),
    );
    for (const argv of [
      ['config', 'check', '--config', redis],
      ['serve', '--describe', '--config', redis],
    ]) {
      const result = await spawnCliAsync(argv, VALID_ENV, tempDir());
      assert.equal(result.code, 0, result.stderr);
    }
  });

  it('positive control: the same config on SQLite passes config check', async () => {
    const sqlite = tempFile('sqlite.yaml', withStore({ sqlite: join(tempDir(), 'portcullis.db') }));
    const result = await spawnCliAsync(['config', 'check', '--config', sqlite], VALID_ENV);
    assert.equal(result.code, 0, result.stderr);
  });
});
