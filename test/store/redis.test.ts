/**
 * The Redis store against a real single redis-server: the same contract as memory and SQLite.
 */
import { after, before, describe } from 'node:test';
import { RedisStore } from '../../src/store/index.ts';
import { describeStoreContract } from './contract.ts';
import { type RedisProcess, redisMissing, startRedis, testSettings } from './redis-harness.ts';

const missing = redisMissing();

describe('Redis store (single redis-server)', { skip: missing }, () => {
  let server: RedisProcess;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server.remove();
  });

  describeStoreContract('redis (single server)', {
    open: async () => new RedisStore(testSettings(server.url)),
  });
});
