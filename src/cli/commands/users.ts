import {
  generatePassword,
  operator,
  passwordProblem,
  setUserPassword,
  usernameProblem,
} from '../../authorization-server/index.ts';
import { closestMatch } from '../../lib/did-you-mean.ts';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.ts';
import {
  columns,
  isoTime,
  loadOperatorConfig,
  printJson,
  shortTime,
  withStore,
} from '../operator-io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const USERS_HELP = `Usage: portcullis users add NAME [--password-stdin] [--role ROLE] [--config FILE]
       portcullis users list [--json] [--config FILE]
       portcullis users disable NAME [--json] [--config FILE]
       portcullis users enable NAME [--json] [--config FILE]

Local users of the co-located authorization server. Passwords are stored as scrypt hashes in
the store the config names.

  add       Create a user, or reset the password of an existing one (its roles are kept
            unless --role is given). Without --password-stdin a random password is generated
            and printed once.
  list      Every user: roles, status, live grants.
  disable   The user can no longer sign in, their sessions end, and every grant of theirs is
            revoked (the gateway refuses their access tokens at once).
  enable    The user may sign in again (revoked grants stay revoked).

Options:
  --config FILE        YAML config (its store block says where users live). Default: the
                       quickstart's, when run where the quickstart keeps ./data.
  --password-stdin     Read the password from standard input (the first line).
  --role ROLE          Give the user this role (repeatable); admin opens /oauth/admin.
  --json               Print JSON instead of text.
  -h, --help           Show this help.

Exit codes: 0 success, 1 runtime failure (an unknown user), 2 usage or config error.`;

/** Standard input, injectable for tests; the CLI reads the process's stdin. */
export type StdinIo = CliIo & { readonly readStdin?: () => Promise<string> };

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export async function usersCommand(args: readonly string[], io: StdinIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(USERS_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub === 'add') return usersAdd(rest, io);
  if (sub === 'list' || sub === 'disable' || sub === 'enable') return usersManage(sub, rest, io);
  const hint = closestMatch(sub, ['add', 'list', 'disable', 'enable']);
  throw usageError(
    'users',
    `unknown subcommand "${sub}" (did you mean ${hint ?? 'add'}? subcommands: add, list, disable, enable)`,
  );
}

async function usersAdd(rest: readonly string[], io: StdinIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'users add',
    rest,
    {
      config: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      role: { type: 'string', multiple: true },
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
  const roles = values.role;
  for (const role of roles ?? []) {
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(role)) {
      throw usageError('users add', `--role "${role}" must be lower-case letters, digits, - or _`);
    }
  }

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

  const loaded = loadOperatorConfig('users add', values.config, io);
  await withStore(loaded, io, async (store) => {
    const { created } = await setUserPassword(store, name, password, Date.now(), roles);
    io.stdout(created ? `created user ${name}` : `reset the password of user ${name}`);
    if (roles !== undefined) io.stdout(`roles: ${roles.join(', ')}`);
    if (generated) io.stdout(`password (shown once): ${password}`);
  });
  return EXIT_OK;
}

async function usersManage(
  sub: 'list' | 'disable' | 'enable',
  rest: readonly string[],
  io: CliIo,
): Promise<number> {
  const { values, positionals } = parseFlags(
    `users ${sub}`,
    rest,
    {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    sub === 'list' ? 0 : 1,
  );
  if (values.help) {
    io.stdout(USERS_HELP);
    return EXIT_OK;
  }
  const name = positionals[0];
  if (sub !== 'list' && name === undefined) throw usageError(`users ${sub}`, 'NAME is required');
  const loaded = loadOperatorConfig(`users ${sub}`, values.config, io);
  const now = Date.now();
  return withStore(loaded, io, async (store) => {
    if (sub === 'list') {
      const users = await operator.listUsers(store, now);
      if (values.json) {
        printJson(io, {
          users: users.map((user) => ({
            username: user.username,
            disabled: user.disabled,
            roles: user.roles,
            created_at: isoTime(user.createdAt),
            updated_at: isoTime(user.updatedAt),
            live_grants: user.liveGrants,
          })),
        });
      } else if (users.length === 0) io.stdout('no users');
      else
        io.stdout(
          columns(
            ['USER', 'ROLES', 'CREATED', 'LIVE GRANTS', 'STATUS'],
            users.map((u) => [
              u.username,
              u.roles.join(',') || '-',
              shortTime(u.createdAt),
              String(u.liveGrants),
              u.disabled ? 'disabled' : 'enabled',
            ]),
          ),
        );
      return EXIT_OK;
    }
    const username = name ?? '';
    if (sub === 'disable') {
      const { revokedGrants } = await operator.disableUser(store, username, now);
      if (values.json) printJson(io, { username, disabled: true, revoked_grants: revokedGrants });
      else io.stdout(`disabled user ${username}; revoked ${revokedGrants} grant(s)`);
      return EXIT_OK;
    }
    await operator.enableUser(store, username, now);
    if (values.json) printJson(io, { username, disabled: false });
    else io.stdout(`enabled user ${username}`);
    return EXIT_OK;
  });
}
