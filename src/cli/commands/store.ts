import { isAbsolute, resolve } from 'node:path';
import { loadConfigFile } from '../../config/index.ts';
import {
  describeRedisUrl,
  type RedisSettings,
  RedisStore,
  redisSettings,
  SqliteStore,
  type Store,
} from '../../store/index.ts';
import { type MigrationCounts, migrateStore } from '../../store/migrate.ts';
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const STORE_HELP = `Usage: portcullis store migrate --from STORE --to STORE [options]

Copy the authorization server's long-lived state from one store to another: users, registered
clients, consents, grants with their refresh and access tokens (revocations included), and
signing keys. Codes, sign-in sessions and pending sign-ins are short-lived and stay behind.
Stop the gateways (or route no traffic) while it runs.

STORE is sqlite:PATH, redis://HOST:PORT/DB or rediss://HOST:PORT/DB.

Options:
  --from STORE        Where the data is now.
  --to STORE          Where it goes.
  --config FILE       Take the Redis connection options (key prefix, ACL user and password
                      from the environment, TLS CA file, cluster, sentinel) from this config's
                      store.redis_options.
  --key-prefix P      Redis key prefix (default: the config's, or "portcullis:").
  --force             Write into a target that already holds other data (records with the
                      same id are replaced).
  -h, --help          Show this help.

A target holding other data is refused without --force. Running the same migration again
is harmless: a target that already holds every record is left as it is.

Exit codes: 0 success, 1 runtime failure or refused target, 2 usage or config error.`;

export async function storeCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(STORE_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub !== 'migrate')
    throw usageError('store', `unknown subcommand "${sub}" (did you mean migrate?)`);
  const { values } = parseFlags('store migrate', rest, {
    from: { type: 'string' },
    to: { type: 'string' },
    config: { type: 'string' },
    'key-prefix': { type: 'string' },
    force: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(STORE_HELP);
    return EXIT_OK;
  }
  if (values.from === undefined) throw usageError('store migrate', '--from STORE is required');
  if (values.to === undefined) throw usageError('store migrate', '--to STORE is required');
  if (values.from === values.to) {
    throw usageError('store migrate', '--from and --to name the same store');
  }
  const redisOptions = redisOptionsFrom(values.config, values['key-prefix'], io);
  const source = openSpec('--from', values.from, redisOptions, io);
  let target: Store | undefined;
  try {
    target = openSpec('--to', values.to, redisOptions, io);
    const result = await migrateStore(source, target, { force: values.force });
    const to = describeSpec(values.to);
    if (result.status === 'refused') {
      io.stderr(
        `portcullis: ${to} already holds data (${summary(result.targetCounts)}); nothing was written. Pass --force to write into it anyway.`,
      );
      return EXIT_FAILURE;
    }
    if (result.status === 'up-to-date') {
      io.stdout(`${to} already holds every record (${summary(result.counts)}); nothing to do`);
      return EXIT_OK;
    }
    io.stdout(`copied ${summary(result.counts)} from ${describeSpec(values.from)} to ${to}`);
    return EXIT_OK;
  } finally {
    await source.close();
    await target?.close();
  }
}

type RedisOptions = Omit<RedisSettings, 'url'>;

function redisOptionsFrom(
  configPath: string | undefined,
  keyPrefix: string | undefined,
  io: CliIo,
): RedisOptions {
  let options: RedisOptions = {
    keyPrefix: 'portcullis:',
    connectTimeoutMs: 2000,
    commandTimeoutMs: 5000,
    cluster: false,
  };
  if (configPath !== undefined) {
    const loaded = loadConfigFile(configPath, { env: io.env });
    // The URL does not matter here: only the connection options are taken.
    const { url: _url, ...fromConfig } = redisSettings(
      {
        ...loaded,
        config: {
          ...loaded.config,
          store: { ...loaded.config.store, redis: 'redis://127.0.0.1:6379/0' },
        },
      },
      io.cwd,
    );
    options = { ...fromConfig, commandTimeoutMs: Math.max(fromConfig.commandTimeoutMs, 5000) };
  }
  if (keyPrefix !== undefined) {
    if (/[{}]/.test(keyPrefix)) {
      throw usageError('store migrate', '--key-prefix may not contain { or }');
    }
    options = { ...options, keyPrefix };
  }
  return options;
}

function openSpec(flag: string, spec: string, redis: RedisOptions, io: CliIo): Store {
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '') throw usageError('store migrate', `${flag} sqlite: needs a file path`);
    return new SqliteStore(isAbsolute(path) ? path : resolve(io.cwd, path));
  }
  if (/^rediss?:\/\//.test(spec) && URL.canParse(spec)) {
    return new RedisStore({ ...redis, url: spec });
  }
  throw usageError(
    'store migrate',
    `${flag} must be sqlite:PATH or a redis:// or rediss:// URL (found ${describeSpec(spec)})`,
  );
}

/** A store as it may be shown: never a password. */
function describeSpec(spec: string): string {
  return /^rediss?:\/\//.test(spec) ? describeRedisUrl(spec) : spec;
}

function summary(counts: MigrationCounts): string {
  return [
    `${counts.users} users`,
    `${counts.clients} clients`,
    `${counts.consents} consents`,
    `${counts.grants} grants`,
    `${counts.refreshTokens} refresh tokens`,
    `${counts.accessTokens} access tokens`,
    `${counts.signingKeys} signing keys`,
    `${counts.federatedIdentities} federated identities`,
  ].join(', ');
}
