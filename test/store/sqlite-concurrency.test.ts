/**
 * Two threads, two connections, one SQLite file: code redemption and refresh rotation stay
 * compare-and-set across connections (BEGIN IMMEDIATE), not only within one event loop.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { SqliteStore } from '../../src/store/index.ts';
import { tempDir } from '../helpers/cli.ts';

it('two threads racing over 200 codes and 200 refresh tokens: each is won exactly once', async () => {
  const path = join(tempDir(), 'race.db');
  const setup = new SqliteStore(path);
  const codes = Array.from({ length: 200 }, (_, index) => `code-${index}`);
  const tokens = Array.from({ length: 200 }, (_, index) => `rt-${index}`);
  for (const code of codes) {
    await setup.putCode({
      codeHash: code,
      grantId: `g-${code}`,
      clientId: 'c',
      subject: 's',
      redirectUri: 'http://127.0.0.1/cb',
      codeChallenge: 'x',
      resource: 'r',
      scopes: [],
      createdAt: 1,
      expiresAt: 1_000_000,
      consumedAt: undefined,
    });
  }
  for (const token of tokens) {
    await setup.putGrant({
      grantId: `g-${token}`,
      kind: 'authorization_code',
      subject: 's',
      clientId: 'c',
      resource: 'r',
      scopes: [],
      createdAt: 1,
      expiresAt: 1_000_000,
      revokedAt: undefined,
    });
    await setup.putRefreshToken({
      tokenHash: token,
      grantId: `g-${token}`,
      clientId: 'c',
      subject: 's',
      resource: 'r',
      scopes: [],
      issuedAt: 1,
      expiresAt: 1_000_000,
      rotatedAt: undefined,
      successorHash: undefined,
      graceBlob: undefined,
    });
  }
  await setup.close();

  const run = (name: string) =>
    new Promise<{ consumed: string[]; rotated: string[] }>((resolve, reject) => {
      const worker = new Worker(new URL('./sqlite-worker.ts', import.meta.url), {
        workerData: { path, codes, tokens, name },
      });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const [a, b] = await Promise.all([run('a'), run('b')]);
  const consumed = [...a.consumed, ...b.consumed].sort();
  assert.deepEqual(consumed, [...codes].sort(), 'every code consumed exactly once');
  const rotated = [...a.rotated, ...b.rotated].sort();
  assert.deepEqual(rotated, [...tokens].sort(), 'every token rotated exactly once');
});
