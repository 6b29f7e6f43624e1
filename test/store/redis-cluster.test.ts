/**
 * The Redis store against a local three-master Redis Cluster: the same contract, so every
 * atomic script's keys share one hash slot (a cross-slot script would fail with CROSSSLOT).
 */
import { after, before, describe } from 'node:test';
import { RedisStore } from '../../src/store/index.ts';
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
});
