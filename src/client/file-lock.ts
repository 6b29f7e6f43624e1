import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError } from '../errors/index.ts';

export interface LockOptions {
  /** Give up waiting after this long. Default 30 s (a refresh holds the lock for one request). */
  readonly timeoutMs?: number;
  /** A lock older than this is considered abandoned even if its process seems alive. */
  readonly staleMs?: number;
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL, so exactly one process wins).
 * Waiters poll with jitter. A lock left by a process that died (same host, pid gone) or older
 * than `staleMs` is broken: renamed aside atomically, and put back if it turns out to be a fresh
 * lock another process took in between.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const token = `${process.pid} ${hostname()} ${Date.now()} ${randomBytes(6).toString('hex')}`;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readFile(lockPath, 'utf8').catch(() => undefined);
    if (holder !== undefined && isAbandoned(holder, staleMs)) {
      await breakLock(lockPath, holder);
      continue;
    }
    if (Date.now() > deadline) {
      throw new ClientError(
        'ClientTokenStoreFailed',
        `the token store is locked (${lockPath}) by process ${holder?.split(' ')[0] ?? '?'}`,
        { fix: `if no other portcullis process is running, delete ${lockPath}` },
      );
    }
    await sleep(15 + Math.floor(Math.random() * 35));
  }
  try {
    return await fn();
  } finally {
    const current = await readFile(lockPath, 'utf8').catch(() => undefined);
    if (current === token) await unlink(lockPath).catch(() => undefined);
  }
}

function isAbandoned(holder: string, staleMs: number): boolean {
  const [pidText, host, sinceText] = holder.split(' ');
  const since = Number(sinceText);
  if (Number.isFinite(since) && Date.now() - since > staleMs) return true;
  if (host !== hostname()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function breakLock(lockPath: string, seen: string): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else broke or released it
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== undefined && moved !== seen) {
    // We moved a lock taken after we looked: put it back unless yet another one exists.
    await link(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}
