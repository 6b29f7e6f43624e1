/**
 * The Redis store against a local three-master Redis Cluster: the same contract, so every
 * atomic script's keys share one hash slot (a cross-slot script would fail with CROSSSLOT).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisRateLimiter, RedisSessionDirectory, RedisStore } from '../../src/store/index.ts';
import { describeStoreContract } from './contract.ts';
import {
  type RedisCluster,
  redisMissing,
  startRedisCluster,
  testSettings,
} from './redis-harness.ts';

const missing = redisMissing();

describe('Redis store (three-master cluster)', { skip: missing }, () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster.stop();
  });

  describeStoreContract('redis (cluster)', {
    open: async () => new RedisStore(testSettings(cluster.url, { cluster: true })),
  });

  it('gateway state: a request’s three rate-limit windows in one script; shared sessions', async () => {
    const settings = testSettings(cluster.url, { cluster: true });
    const one = new RedisStore(settings);
    const two = new RedisStore(settings);
    const watcher = new RedisSessionDirectory(two);
    try {
      const limiter = new RedisRateLimiter(one, { maxRequests: 2, windowSeconds: 60 });
      const keys = ['address:203.0.113.9', 'subject:alice', 'session:S'];
      const counts = [];
      for (let round = 0; round < 3; round++) {
        counts.push((await limiter.consumeAll(keys)).map((decision) => decision.allowed));
      }
      assert.deepEqual(counts, [
        [true, true, true],
        [true, true, true],
        [false, false, false],
      ]);
      // Positive control: another subject's window is its own.
      assert.deepEqual(
        (await limiter.consumeAll(['subject:bob'])).map((decision) => decision.remaining),
        [1],
      );

      const ended: string[] = [];
      watcher.watch({ ended: (id) => ended.push(id), lost: () => {} });
      await watcher.start();
      const sessions = new RedisSessionDirectory(one);
      const record = {
        id: 'A'.repeat(32),
        subject: 'alice',
        route: '/mcp',
        upstreamSessionId: 'u-1',
      };
      await sessions.put(record, 60_000);
      assert.deepEqual(await new RedisSessionDirectory(two).get(record.id), record);
      await sessions.touch(record.id, 60_000);
      await sessions.end(record.id);
      assert.equal(await sessions.get(record.id), undefined);
      while (ended.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(ended, [record.id]);
    } finally {
      await watcher.close();
      await one.close();
      await two.close();
    }
  });
});
