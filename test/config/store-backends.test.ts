/**
 * One rule decides which store backends this version can open, and every command obeys it:
 * `config check` never calls valid a config that `serve`, `users add` or `keys rotate` refuses.
 * Each command runs as a real process; each refusal must name `store.redis`. The positive
 * control (the same config on SQLite) comes last.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigText, unavailableStoreBackends } from '../../src/config/index.ts';
import { isConfigError } from '../../src/errors/index.ts';
import { openStore } from '../../src/store/index.ts';
import { spawnCliAsync, tempDir, tempFile } from '../helpers/cli.ts';
import { mutate, VALID_ENV } from '../helpers/configs.ts';

const withStore = (store: Record<string, string>) =>
  mutate((d) => {
    d.remote_mcp.bind_address = '127.0.0.1:0';
    d.authorization_server = { enabled: true };
    d.store = store;
  });

const REDIS = withStore({ redis: 'redis://127.0.0.1:6379/0' });
const REFUSAL = ['store.redis', 'the Redis store is not available in this version'];

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
    it(`${command.name} refuses store.redis, naming it`, async () => {
      const result = await spawnCliAsync(command.argv, VALID_ENV, tempDir());
      assert.equal(result.code, 2, result.stdout + result.stderr);
      for (const text of REFUSAL) assert.ok(result.stderr.includes(text), result.stderr);
    });
  }

  it('loading applies the rule that openStore applies (same issues)', () => {
    const issues = unavailableStoreBackends({ redis: 'redis://127.0.0.1:6379/0' });
    assert.deepEqual(
      issues.map((issue) => issue.path),
      ['store.redis'],
    );
    assert.throws(
      () => loadConfigText(REDIS, { env: VALID_ENV }),
      (error: unknown) =>
        isConfigError(error) &&
        issues.every((issue) => error.issues.some((found) => found.message === issue.message)),
    );
    const handBuilt = {
      source: 'hand-built',
      config: { store: { redis: 'redis://127.0.0.1:6379/0' } },
    } as unknown as Parameters<typeof openStore>[0];
    assert.throws(
      () => openStore(handBuilt, tempDir()),
      (error: unknown) => isConfigError(error) && error.issues[0]?.message === issues[0]?.message,
    );
  });

  it('positive control: the same config on SQLite passes config check', async () => {
    const sqlite = tempFile('sqlite.yaml', withStore({ sqlite: join(tempDir(), 'portcullis.db') }));
    const result = await spawnCliAsync(['config', 'check', '--config', sqlite], VALID_ENV);
    assert.equal(result.code, 0, result.stderr);
  });
});
