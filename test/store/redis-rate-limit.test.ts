/**
 * The Redis rate limiter sends the requests of one event-loop turn in one script call: each
 * request still gets its own counts, in the order it asked, its keys are never split between
 * calls, and every request of a batch fails closed together when Redis cannot answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisRateLimiter, RedisStore, StoreUnavailableError } from '../../src/store/index.ts';
import {
  freePort,
  type RedisProcess,
  redisMissing,
  startRedis,
  testSettings,
} from './redis-harness.ts';

const missing = redisMissing();

describe('Redis rate limiter batches', { skip: missing }, () => {
  let server: RedisProcess;
  let probe: Redis;
  const stores: RedisStore[] = [];
  const store = (url: string, commandTimeoutMs = 2000) => {
    const opened = new RedisStore(testSettings(url, { commandTimeoutMs }));
    stores.push(opened);
    return opened;
  };
  /** Script calls clients sent so far (INFO commandstats), EVAL and EVALSHA together. */
  const scriptCalls = async (): Promise<number> => {
    const info = await probe.info('commandstats');
    let calls = 0;
    for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) {
      calls += Number(match[1]);
    }
    return calls;
  };

  before(async () => {
    server = await startRedis();
    probe = new Redis(server.url);
  });
  after(async () => {
    for (const opened of stores) await opened.close();
    probe.disconnect();
    await server.remove();
  });

  it('answers the requests of one turn from one script call, each its own count', async () => {
    const limiter = new RedisRateLimiter(store(server.url), { maxRequests: 15, windowSeconds: 60 });
    await limiter.consume('warm-up'); // loads the script, so the batch below is one EVALSHA
    const before = await scriptCalls();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        limiter.consumeAll(['address:198.51.100.4', 'subject:alice', `session:s${index}`]),
      ),
    );
    assert.equal((await scriptCalls()) - before, 1, 'one script call for the whole turn');
    answers.forEach(([address, subject, session], index) => {
      // The n-th request asking is the n-th counted: address and subject at n, its session at 1.
      assert.equal(address?.remaining, Math.max(0, 15 - (index + 1)));
      assert.equal(address?.allowed, index < 15);
      assert.equal(subject?.remaining, Math.max(0, 15 - (index + 1)));
      assert.equal(session?.remaining, 14);
      assert.equal(session?.allowed, true);
    });
    // Positive control: a later turn is a later call, counting on from where the batch ended.
    const [next] = await limiter.consumeAll(['address:198.51.100.4']);
    assert.equal(next?.allowed, false);
    assert.equal((await limiter.consumeAll(['address:192.0.2.9']))[0]?.allowed, true);
  });

  it('cuts a large turn into calls without splitting any request', async () => {
    const limiter = new RedisRateLimiter(store(server.url), {
      maxRequests: 1000,
      windowSeconds: 60,
    });
    await limiter.consume('warm-up');
    const before = await scriptCalls();
    // 300 requests of 2 keys: more keys than one call takes (512), so two calls.
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        limiter.consumeAll(['subject:bob', `session:t${index}`]),
      ),
    );
    assert.equal((await scriptCalls()) - before, 2);
    answers.forEach(([subject, session], index) => {
      assert.equal(subject?.remaining, 1000 - (index + 1));
      assert.equal(session?.remaining, 999);
    });
  });

  it('fails every request of a batch closed when Redis does not answer', async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const limiter = new RedisRateLimiter(store(nowhere, 200), {
      maxRequests: 5,
      windowSeconds: 60,
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, index) =>
        limiter.consumeAll(['address:a', `session:${index}`]),
      ),
    );
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(outcome.status === 'rejected' && outcome.reason instanceof StoreUnavailableError);
    }
  });
});
