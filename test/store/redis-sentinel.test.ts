/**
 * The Redis store through Sentinel: the client asks a real redis-sentinel for the master of a
 * name and talks to it. The contract suite runs against it, so every rule holds the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { RedisStore } from '../../src/store/index.ts';
import { describeStoreContract } from './contract.ts';
import {
  freePort,
  type RedisProcess,
  redisMissing,
  startRedis,
  testSettings,
} from './redis-harness.ts';

const missing = redisMissing();

describe('Redis store through Sentinel', { skip: missing }, () => {
  let master: RedisProcess;
  let sentinel: RedisProcess;
  let sentinelDir: string;
  before(async () => {
    master = await startRedis();
    // Sentinel rewrites its config file, so it gets one of its own in a temp directory.
    sentinelDir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'));
    const config = join(sentinelDir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `sentinel monitor portcullis 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds portcullis 5000',
        '',
      ].join('\n'),
    );
    sentinel = await startRedis({
      port: await freePort(),
      dir: sentinelDir,
      leading: [config, '--sentinel'],
      ready: /Sentinel ID is|monitor master portcullis/,
    });
  });
  after(async () => {
    await sentinel.stop();
    await master.remove();
    rmSync(sentinelDir, { recursive: true, force: true });
  });

  describeStoreContract('redis (sentinel)', {
    open: async () =>
      new RedisStore({
        ...testSettings(master.url),
        sentinel: { masterName: 'portcullis', nodes: [`127.0.0.1:${sentinel.port}`] },
      }),
  });
});
