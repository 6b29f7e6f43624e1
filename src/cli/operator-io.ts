import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Client, ClientRegistry } from '../authorization-server/index.ts';
import { type LoadedConfig, loadConfigFile } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { openStore, type Store } from '../store/index.ts';
import type { CliIo } from './io.ts';
import { prepareQuickstart, QUICKSTART_CONFIG } from './quickstart.ts';

/**
 * What the operator commands (users, clients, grants, keys) share: the config (the one named by
 * --config, or the quickstart's when run where the quickstart keeps its data), the store it
 * names, and output as aligned text or as JSON.
 */

/**
 * The config an operator command works on. Without --config, the quickstart's, with the
 * quickstart's token-id secret read from ./data (so `portcullis users add bob` works where
 * `portcullis serve` ran, with no environment to set).
 */
export function loadOperatorConfig(
  command: string,
  configPath: string | undefined,
  io: CliIo,
): LoadedConfig {
  if (configPath === undefined) {
    if (!existsSync(join(io.cwd, 'data', 'portcullis.db'))) {
      throw new ConfigError('UsageError', [
        {
          path: command,
          message: `--config FILE is required here: there is no quickstart data in ${join(io.cwd, 'data')}`,
          fix: `pass --config FILE, or run this in the directory where \`portcullis serve\` (the quickstart) ran`,
        },
      ]);
    }
    return requireAuthorizationServer(
      loadConfigFile(QUICKSTART_CONFIG, { env: prepareQuickstart(io.cwd, io.env) }),
      QUICKSTART_CONFIG,
    );
  }
  // The quickstart's own file named explicitly: its secret comes from ./data as well.
  const env =
    resolve(io.cwd, configPath) === QUICKSTART_CONFIG ? prepareQuickstart(io.cwd, io.env) : io.env;
  return requireAuthorizationServer(loadConfigFile(configPath, { env }), configPath);
}

function requireAuthorizationServer(loaded: LoadedConfig, path: string): LoadedConfig {
  if (!loaded.config.authorization_server.enabled) {
    throw new ConfigError(
      'ConfigRefused',
      [
        {
          path: 'authorization_server.enabled',
          message: 'the co-located authorization server is not enabled in this config',
          fix: `set authorization_server.enabled: true in ${path}`,
        },
      ],
      { source: path },
    );
  }
  return loaded;
}

/** Opens the config's store, runs `work`, closes the store whatever happens. */
export async function withStore<T>(
  loaded: LoadedConfig,
  io: CliIo,
  work: (store: Store, preRegistered: readonly Client[]) => Promise<T>,
): Promise<T> {
  const store = openStore(loaded, io.cwd);
  try {
    return await work(store, new ClientRegistry(loaded, store, undefined).preRegistered());
  } finally {
    await store.close();
  }
}

/** A time for JSON output: ISO 8601, or null. */
export const isoTime = (ms: number | undefined): string | null =>
  ms === undefined ? null : new Date(ms).toISOString();

/** A time for text output: minutes are enough. */
export const shortTime = (ms: number | undefined): string =>
  ms === undefined ? '-' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

/** Rows as columns aligned on the widest cell, with a header line. */
export function columns(headings: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headings.map((heading, index) =>
    Math.max(heading.length, ...rows.map((row) => (row[index] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, index) => (index === cells.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join('  ');
  return [line(headings), ...rows.map(line)].join('\n');
}

export const printJson = (io: CliIo, value: unknown): void =>
  io.stdout(JSON.stringify(value, null, 2));
