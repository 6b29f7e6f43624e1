import { isAbsolute, resolve } from 'node:path';
import type { LoadedConfig } from '../config/index.ts';
import { acquireWriterLock, type WriterLock } from '../lib/writer-lock.ts';

/**
 * The files a serving process writes and no other process may: the audit trail (a second
 * writer breaks its hash chain) and the SQLite store. Taken before anything is opened; a second
 * `serve` on the same files stops here with a message naming the file and the holding process.
 * Administrative commands (`users`, `keys`) still open the store: they do not serve.
 */
export function lockServedFiles(
  loaded: Pick<LoadedConfig, 'config'>,
  cwd: string,
): { release(): void } {
  const locks: WriterLock[] = [];
  const release = () => {
    for (const lock of locks.splice(0).reverse()) lock.release();
  };
  try {
    const { audit, store, authorization_server } = loaded.config;
    if (!audit.stdout) locks.push(acquireWriterLock(audit.path, 'the audit trail'));
    if (authorization_server.enabled && store.sqlite !== undefined) {
      const path = isAbsolute(store.sqlite) ? store.sqlite : resolve(cwd, store.sqlite);
      locks.push(acquireWriterLock(path, 'the SQLite store'));
    }
  } catch (error) {
    release();
    throw error;
  }
  return { release };
}
