/**
 * Worker for the cross-connection atomicity test: opens the shared SQLite file and races the
 * main test's other worker over the same codes and refresh tokens.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from '../../src/store/index.ts';

const { path, codes, tokens, name } = workerData as {
  path: string;
  codes: string[];
  tokens: string[];
  name: string;
};
const store = new SqliteStore(path, { busyTimeoutMs: 20_000 });
const consumed: string[] = [];
for (const code of codes) {
  if ((await store.consumeCode(code, 2)).status === 'consumed') consumed.push(code);
}
const rotated: string[] = [];
for (const token of tokens) {
  const result = await store.rotateRefreshToken({
    tokenHash: token,
    clientId: 'c',
    now: 2,
    graceMs: 0,
    successor: {
      tokenHash: `${token}-next-${name}`,
      grantId: `g-${token}`,
      clientId: 'c',
      subject: 's',
      resource: 'r',
      scopes: [],
      issuedAt: 2,
      expiresAt: 1_000_000,
      rotatedAt: undefined,
      successorHash: undefined,
      graceBlob: undefined,
    },
    accessToken: {
      jti: `${token}-jti-${name}`,
      grantId: `g-${token}`,
      clientId: 'c',
      expiresAt: 1_000_000,
      revokedAt: undefined,
    },
    graceBlob: 'blob',
  });
  if (result.status === 'rotated') rotated.push(token);
}
await store.close();
parentPort?.postMessage({ consumed, rotated });
