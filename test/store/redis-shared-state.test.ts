/**
 * Gateway state shared by replicas through Redis: rate limits counted once across replicas,
 * revocations reaching every replica's cache by pub/sub, legacy sessions any replica can read —
 * failing closed when Redis is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  RedisRateLimiter,
  RedisRevocationCache,
  RedisSessionDirectory,
  RedisStore,
  StoreUnavailableError,
} from '../../src/store/index.ts';
import { accessToken, grant } from './contract.ts';
import {
  type RedisProcess,
  redisMissing,
  startRedis,
  testSettings,
  waitUntilAnswering,
} from './redis-harness.ts';

const missing = redisMissing();
const NOW = Date.now();

/** Resolves once `condition` holds (event-driven state, checked between turns of the loop). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('shared gateway state on Redis', { skip: missing }, () => {
  let server: RedisProcess;
  const stores: RedisStore[] = [];
  const replica = (prefix: string, commandTimeoutMs = 2000) => {
    const store = new RedisStore(testSettings(server.url, { keyPrefix: prefix, commandTimeoutMs }));
    stores.push(store);
    return store;
  };

  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const store of stores) await store.close();
    await server.remove();
  });

  it('three replicas sharing a limit of 10 admit exactly 10 of 30 concurrent requests', async () => {
    const limiters = [replica('rl:'), replica('rl:'), replica('rl:')].map(
      (store) => new RedisRateLimiter(store, { maxRequests: 10, windowSeconds: 60 }),
    );
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, index) => limiters[index % 3]?.consume('addr:203.0.113.7')),
    );
    const admitted = decisions.filter((decision) => decision?.allowed).length;
    assert.equal(admitted, 10);
    for (const decision of decisions) {
      assert.ok(decision && decision.retryAfterSeconds >= 1 && decision.retryAfterSeconds <= 60);
    }
    assert.deepEqual(
      decisions
        .filter((decision) => decision?.allowed)
        .map((decision) => decision?.remaining)
        .sort((a, b) => (a ?? 0) - (b ?? 0)),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    // Positive control: another key has its own budget.
    assert.equal((await limiters[0]?.consume('addr:198.51.100.1'))?.allowed, true);
  });

  it('a revocation on one replica reaches the other replica’s cache; no round trip on a hit', async () => {
    const a = replica('rev:');
    const b = replica('rev:');
    const cache = new RedisRevocationCache(b);
    await cache.start();
    let lookups = 0;
    const lookup = b.accessTokenState.bind(b);
    b.accessTokenState = (jti) => {
      lookups++;
      return lookup(jti);
    };
    const family = grant({ createdAt: NOW, expiresAt: NOW + 86_400_000 });
    const [one, two] = [
      accessToken(family, { expiresAt: NOW + 900_000 }),
      accessToken(family, { expiresAt: NOW + 900_000 }),
    ];
    const other = accessToken(grant(), { expiresAt: NOW + 900_000 });
    await a.putGrant(family);
    for (const token of [one, two, other]) await a.putAccessToken(token);

    assert.equal(await cache.isAccessTokenRevoked(one.jti), false);
    assert.equal(await cache.isAccessTokenRevoked(one.jti), false);
    assert.equal(lookups, 1, 'the second check is answered from memory');

    await a.revokeAccessToken(two.jti, NOW + 1);
    assert.equal(await cache.isAccessTokenRevoked(two.jti), true, 'uncached: read from Redis');

    await cache.isAccessTokenRevoked(other.jti);
    await a.revokeGrant(family.grantId, NOW + 2);
    await cache.flushed();
    const before = lookups;
    assert.equal(await cache.isAccessTokenRevoked(one.jti), true, 'the grant message marked it');
    assert.equal(await cache.isAccessTokenRevoked(other.jti), false, 'positive control');
    assert.equal(lookups, before, 'both answered from memory');
    await cache.close();
  });

  it('a session record: read by another replica, its id never a key, ended for every watcher', async () => {
    const a = new RedisSessionDirectory(replica('sess:'));
    const bStore = replica('sess:');
    const b = new RedisSessionDirectory(bStore);
    const events: string[] = [];
    b.watch({ ended: (id) => events.push(`ended ${id}`), lost: () => events.push('lost') });
    await b.start();
    const record = {
      id: 'S'.repeat(32),
      subject: 'alice',
      route: '/mcp',
      upstreamSessionId: 'up-7',
    };
    await a.put(record, 60_000);
    assert.deepEqual(await b.get(record.id), record);
    assert.equal(await b.get('T'.repeat(32)), undefined, 'positive control: an unknown id');
    const keys = await bStore.connection.keys('sess:*');
    assert.ok(keys.length > 0 && !keys.some((key) => key.includes(record.id)), keys.join());
    await a.end(record.id);
    assert.equal(await b.get(record.id), undefined);
    while (!events.includes(`ended ${record.id}`)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await b.close();
  });

  it('fails closed while Redis is down (limiter and revocation check), recovers by itself', async () => {
    const store = replica('down:', 300);
    const limiter = new RedisRateLimiter(store, { maxRequests: 5, windowSeconds: 60 });
    const cache = new RedisRevocationCache(store);
    await cache.start();
    const token = accessToken(grant(), { expiresAt: NOW + 900_000 });
    await store.putAccessToken(token);
    assert.equal(await cache.isAccessTokenRevoked(token.jti), false);
    assert.equal((await limiter.consume('k')).allowed, true);

    const sessions = new RedisSessionDirectory(store);
    const lost: boolean[] = [];
    sessions.watch({ ended: () => {}, lost: () => lost.push(sessions.live) });
    await sessions.start();
    const lostBefore = lost.length;

    await server.stop();
    await until(() => !cache.live);
    await until(() => !sessions.live && lost.length > lostBefore);
    await assert.rejects(limiter.consume('k'), StoreUnavailableError);
    await assert.rejects(limiter.consumeAll(['a', 'b']), StoreUnavailableError);
    await assert.rejects(sessions.get('S'.repeat(32)), StoreUnavailableError);
    await assert.rejects(
      cache.isAccessTokenRevoked(token.jti),
      StoreUnavailableError,
      'a cached answer is not trusted while messages may be missed',
    );

    await server.restart();
    await waitUntilAnswering(store);
    await until(() => cache.live);
    assert.equal(await cache.isAccessTokenRevoked(token.jti), false);
    assert.equal((await limiter.consume('k')).allowed, true);
    // Once the subscription is back, copies read meanwhile are dropped again.
    await until(() => sessions.live);
    assert.equal(lost.at(-1), true, 'told once messages flow again');
    assert.equal(await sessions.get('S'.repeat(32)), undefined);
    await cache.close();
    await sessions.close();
  });
});
