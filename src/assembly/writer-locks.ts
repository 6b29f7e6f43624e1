import { isAbsolute, resolve } from 'node:path';
import type { LoadedConfig } from '../config/index.ts';
import { acquireWriterLock, type WriterLock } from '../lib/writer-lock.ts';

/**
 * The files a serving process writes and no other process may: the audit trail (a second
 * writer breaks its hash chain) and the SQLite store. Taken before the file is opened; a second
 * server on the same file stops there with a message naming the file and the holding process.
 * Administrative commands (`users`, `keys`) still open the store: they do not serve.
 */
export function lockAuditTrail(loaded: Pick<LoadedConfig, 'config'>): WriterLock | undefined {
  const { audit } = loaded.config;
  return audit.stdout ? undefined : acquireWriterLock(audit.path, 'the audit trail');
}

export function lockSqliteStore(
  loaded: Pick<LoadedConfig, 'config'>,
  cwd: string,
): WriterLock | undefined {
  const { sqlite } = loaded.config.store;
  if (sqlite === undefined) return undefined;
  return acquireWriterLock(isAbsolute(sqlite) ? sqlite : resolve(cwd, sqlite), 'the SQLite store');
}
