import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';

/**
 * One writing process per file (an audit trail, a SQLite store). A second writer would
 * interleave its hash chain with the first one's (the trail then fails verification) or race
 * it on the same rows, so the second `serve` refuses to start instead.
 *
 * The lock is a sibling file `<file>.lock` created with O_EXCL (exactly one process wins), holding
 * the holder's pid, host and start time. A lock whose process is gone (same host, pid no longer
 * alive) is stale: it is moved aside atomically and taken over. The lock is removed on release
 * and, at the latest, when the process exits.
 */
export class WriterLockHeld extends Error {
  readonly file: string;
  readonly holder: LockHolder;
  constructor(file: string, what: string, holder: LockHolder) {
    const where = holder.host === hostname() ? '' : ` on host ${holder.host}`;
    super(
      `${what} ${file} is already being written by process ${holder.pid}${where} (since ${new Date(holder.since).toISOString()}); stop that process or give this one its own file (lock: ${file}.lock)`,
    );
    this.name = 'WriterLockHeld';
    this.file = file;
    this.holder = holder;
  }
}

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly since: number;
}

export interface WriterLock {
  readonly file: string;
  /** Removes the lock (idempotent). */
  release(): void;
}

/** Locks this process holds: path → how many times acquired (re-entrant within a process). */
const held = new Map<string, number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const lockPath of held.keys()) removeIfOurs(lockPath);
  });
}

function readHolder(lockPath: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(lockPath, 'utf8')) as Partial<LockHolder>;
    if (
      typeof parsed.pid === 'number' &&
      typeof parsed.host === 'string' &&
      typeof parsed.since === 'number'
    ) {
      return { pid: parsed.pid, host: parsed.host, since: parsed.since };
    }
  } catch {
    // Unreadable or half-written: treated as no holder.
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True for a lock file younger than a second (its writer may not have written it yet). */
function justCreated(lockPath: string): boolean {
  try {
    return Date.now() - statSync(lockPath).mtimeMs < 1000;
  } catch {
    return false;
  }
}

function removeIfOurs(lockPath: string): void {
  const holder = readHolder(lockPath);
  if (holder?.pid === process.pid && holder.host === hostname()) {
    try {
      unlinkSync(lockPath);
    } catch {
      // Already gone.
    }
  }
}

function tryCreate(lockPath: string): boolean {
  let fd: number;
  try {
    fd = openSync(lockPath, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    const holder: LockHolder = { pid: process.pid, host: hostname(), since: Date.now() };
    writeSync(fd, JSON.stringify(holder));
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the writer lock of `file` or throws WriterLockHeld naming the file and the holding
 * process. `what` names the file's role in the message ("the audit trail").
 */
export function acquireWriterLock(file: string, what: string): WriterLock {
  const absolute = resolve(file);
  const lockPath = `${absolute}.lock`;
  const count = held.get(lockPath);
  if (count !== undefined) {
    held.set(lockPath, count + 1);
    return lockHandle(absolute, lockPath);
  }
  // The lock is taken before the file is opened, so its directory may not exist yet: created
  // as the file's opener would (owner-only), so a first start in a fresh directory works.
  mkdirSync(dirname(absolute), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(lockPath)) {
      held.set(lockPath, 1);
      installExitHook();
      return lockHandle(absolute, lockPath);
    }
    const holder = readHolder(lockPath);
    if (holder === undefined && justCreated(lockPath)) {
      // Another starter is between creating the lock and writing its pid into it.
      throw new WriterLockHeld(absolute, what, { pid: 0, host: hostname(), since: Date.now() });
    }
    if (holder !== undefined && (holder.host !== hostname() || alive(holder.pid))) {
      if (holder.pid !== process.pid || holder.host !== hostname()) {
        throw new WriterLockHeld(absolute, what, holder);
      }
    }
    // Stale (its process is gone, or the file is unreadable): move it aside atomically, so two
    // starters breaking it at once cannot both delete a fresh lock, then try again.
    try {
      renameSync(lockPath, `${lockPath}.stale-${process.pid}`);
      unlinkSync(`${lockPath}.stale-${process.pid}`);
    } catch {
      // Someone else broke or took it first; the next attempt sees the outcome.
    }
  }
  const holder = readHolder(lockPath);
  throw new WriterLockHeld(absolute, what, holder ?? { pid: 0, host: 'unknown', since: 0 });
}

function lockHandle(file: string, lockPath: string): WriterLock {
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      const count = held.get(lockPath) ?? 0;
      if (count > 1) {
        held.set(lockPath, count - 1);
        return;
      }
      held.delete(lockPath);
      removeIfOurs(lockPath);
    },
  };
}
