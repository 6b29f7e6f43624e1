/**
 * Worker for the cross-replica atomicity test: its own RedisStore (its own connection, as a
 * separate gateway replica would have) racing the other worker over the same codes and tokens.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type RedisSettings, RedisStore } from '../../src/store/index.ts';

const { settings, codes, tokens, name, now, barrier } = workerData as {
  barrier: Int32Array;
  settings: RedisSettings;
  codes: string[];
  tokens: string[];
  name: string;
  now: number;
};
const store = new RedisStore(settings);
await store.schemaVersion();
// Connected: wait for the other worker, then both fire at once.
Atomics.add(barrier, 0, 1);
Atomics.notify(barrier, 0);
while (Atomics.load(barrier, 0) < 2) Atomics.wait(barrier, 0, 1);
const consumed: string[] = [];
const rotated: string[] = [];
// Fired all at once: many commands in flight, interleaved with the other worker's.
await Promise.all([
  ...codes.map(async (code) => {
    if ((await store.consumeCode(code, now)).status === 'consumed') consumed.push(code);
  }),
  ...tokens.map(async (token) => {
    const result = await store.rotateRefreshToken({
      tokenHash: token,
      clientId: 'c',
      now,
      graceMs: 0,
      successor: {
        tokenHash: `${token}-next-${name}`,
        grantId: `g-${token}`,
        clientId: 'c',
        subject: 's',
        resource: 'r',
        scopes: [],
        issuedAt: now,
        expiresAt: now + 3_600_000,
        rotatedAt: undefined,
        successorHash: undefined,
        graceBlob: undefined,
      },
      accessToken: {
        jti: `${token}-jti-${name}`,
        grantId: `g-${token}`,
        clientId: 'c',
        expiresAt: now + 900_000,
        revokedAt: undefined,
      },
      graceBlob: `blob-${name}`,
    });
    if (result.status === 'rotated') rotated.push(token);
  }),
]);
await store.close();
parentPort?.postMessage({ consumed, rotated });
