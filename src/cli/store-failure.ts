import { isAbsolute, resolve } from 'node:path';
import type { LoadedConfig } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { StoreSchemaError } from '../store/index.ts';

const FILE_ERRORS = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'ENOENT',
  'EISDIR',
  'EEXIST',
  'ENOSPC',
]);

/**
 * A store that cannot be opened at start, as a start-up error with a `fix:` line: a database
 * written by a newer Portcullis, or a file that cannot be created or written. Undefined for any
 * other error.
 */
export function explainStoreFailure(
  error: unknown,
  loaded: LoadedConfig,
  cwd: string,
): ConfigError | undefined {
  const sqlite = loaded.config.store.sqlite;
  if (sqlite === undefined || !loaded.config.authorization_server.enabled) return undefined;
  const file = isAbsolute(sqlite) ? sqlite : resolve(cwd, sqlite);
  if (error instanceof StoreSchemaError) {
    return new ConfigError(
      'ConfigRefused',
      [
        {
          path: 'store.sqlite',
          message: `${file}: ${error.message}`,
          fix: 'run the Portcullis version that wrote it (or newer), or point store.sqlite at another file',
        },
      ],
      { source: loaded.source, cause: error },
    );
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const errno = (error as { errcode?: number } | undefined)?.errcode;
  const sqliteCantOpen = errno === 14; // SQLITE_CANTOPEN
  if ((code === undefined || !FILE_ERRORS.has(code)) && !sqliteCantOpen) return undefined;
  return new ConfigError(
    'ConfigRefused',
    [
      {
        path: 'store.sqlite',
        message: `the store ${file} cannot be opened (${code ?? 'cannot open the database file'})`,
        fix: 'point store.sqlite at a file in a directory this user may create and write, or fix its permissions',
      },
    ],
    { source: loaded.source, cause: error },
  );
}
