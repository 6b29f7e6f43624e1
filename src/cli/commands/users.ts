import {
  generatePassword,
  passwordProblem,
  setUserPassword,
  usernameProblem,
} from '../../authorization-server/index.ts';
import { type LoadedConfig, loadConfigFile } from '../../config/index.ts';
import { ConfigError } from '../../errors/index.ts';
import { openStore } from '../../store/index.ts';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const USERS_HELP = `Usage: portcullis users add NAME --config FILE [--password-stdin]

Create a local user of the co-located authorization server, or reset the password of an
existing one. Passwords are stored as scrypt hashes in the store the config names.
Without --password-stdin a random password is generated and printed once.

Options:
  --config FILE        YAML config (its store block says where users live).
  --password-stdin     Read the password from standard input (the first line).
  -h, --help           Show this help.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.`;

/** Standard input, injectable for tests; the CLI reads the process's stdin. */
export type StdinIo = CliIo & { readonly readStdin?: () => Promise<string> };

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Loads a config whose authorization server is enabled (users and keys belong to it). */
export function loadAuthorizationServerConfig(path: string, io: CliIo): LoadedConfig {
  const loaded = loadConfigFile(path, { env: io.env });
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

export async function usersCommand(args: readonly string[], io: StdinIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(USERS_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub !== 'add') throw usageError('users', `unknown subcommand "${sub}" (did you mean add?)`);
  const { values, positionals } = parseFlags(
    'users add',
    rest,
    {
      config: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    1,
  );
  if (values.help) {
    io.stdout(USERS_HELP);
    return EXIT_OK;
  }
  const name = positionals[0];
  if (name === undefined) throw usageError('users add', 'NAME is required');
  const nameProblem = usernameProblem(name);
  if (nameProblem !== undefined) throw usageError('users add', `NAME ${nameProblem}`);
  if (values.config === undefined) throw usageError('users add', '--config FILE is required');

  let password: string;
  const generated = !values['password-stdin'];
  if (generated) {
    password = generatePassword();
  } else {
    const input = await (io.readStdin ?? readProcessStdin)();
    password = input.split(/\r?\n/)[0] ?? '';
    const problem = passwordProblem(password);
    if (problem !== undefined) throw usageError('users add', `the password ${problem}`);
  }

  const loaded = loadAuthorizationServerConfig(values.config, io);
  const store = openStore(loaded, io.cwd);
  try {
    const { created } = await setUserPassword(store, name, password, Date.now());
    io.stdout(created ? `created user ${name}` : `reset the password of user ${name}`);
    if (generated) io.stdout(`password (shown once): ${password}`);
  } finally {
    await store.close();
  }
  return EXIT_OK;
}
