#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  formatClientError,
  formatConfigError,
  isClientError,
  isConfigError,
  isRequestError,
} from '../errors/index.ts';
import { closestMatch } from '../lib/did-you-mean.ts';
import { auditCommand } from './commands/audit.ts';
import { clientsCommand } from './commands/clients.ts';
import { configCommand } from './commands/config-check.ts';
import { grantsCommand } from './commands/grants.ts';
import { keysCommand } from './commands/keys.ts';
import { serveCommand } from './commands/serve.ts';
import { storeCommand } from './commands/store.ts';
import { usersCommand } from './commands/users.ts';
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, processIo } from './io.ts';
import { usageError } from './parse-flags.ts';
import { packageVersion } from './version.ts';

export const MAIN_HELP = `Usage: portcullis <command> [options]

OAuth 2.1 gateway for remote Model Context Protocol servers.

Commands:
  serve            Run the gateway (no --config: the quickstart). serve --describe prints
                   what would be served, as JSON, without binding.
  config check     Validate a config file and list every problem with its key path.
  audit verify     Check the hash chain of an audit trail (a file or a rotated set).
  connect URL      Bridge a local stdio MCP client to a remote MCP server (or several:
                   connect --config FILE), doing the MCP authorization dance as needed.
  login URL        Authorize against a remote MCP server and store the tokens (encrypted).
  call URL TOOL    Connect, call one tool, print the result as JSON.
  logout URL       Revoke (where supported) and delete the stored tokens.
  users add        Create a local user of the co-located authorization server, or reset
                   a password (users add NAME [--config FILE] [--password-stdin] [--role admin]).
  users list|disable|enable
                   See and manage local users.
  clients list|show|disable|enable|delete
                   See and manage the clients that may ask for tokens.
  grants list|revoke
                   See who allowed which client what, and revoke it (grants list --user U).
  keys rotate      Rotate the authorization server's signing key.
  store migrate    Copy users, clients, grants and keys between stores
                   (store migrate --from sqlite:PATH --to redis://HOST:6379/0, or back).

  The operator commands (users, clients, grants, keys) take --config FILE, or work on the
  quickstart's ./data where it ran; list and show take --json.

Options:
  -h, --help       Show help (also after any command: portcullis serve --help).
  -v, --version    Print the version.

Environment: PORTCULLIS_LOG_LEVEL=debug|info|warn|error (default info) sets the log level.
Exit codes: 0 success, 1 runtime failure, 2 usage or config error.
Docs: docs/configuration.md, docs/errors.md`;

const COMMANDS: Record<string, (args: readonly string[], io: CliIo) => Promise<number>> = {
  serve: serveCommand,
  config: configCommand,
  audit: auditCommand,
  // The client commands load the MCP SDK: imported on use, so other commands start fast.
  connect: async (args, io) => (await import('./commands/connect.ts')).connectCommand(args, io),
  login: async (args, io) => (await import('./commands/login.ts')).loginCommand(args, io),
  call: async (args, io) => (await import('./commands/call.ts')).callCommand(args, io),
  logout: async (args, io) => (await import('./commands/logout.ts')).logoutCommand(args, io),
  users: usersCommand,
  clients: clientsCommand,
  grants: grantsCommand,
  keys: keysCommand,
  store: storeCommand,
};

/** Runs one command line; returns the exit code. Never throws. */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.stdout(MAIN_HELP);
      return command === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (command === '--version' || command === '-v') {
      io.stdout(packageVersion());
      return EXIT_OK;
    }
    const handler = COMMANDS[command];
    if (handler === undefined) {
      const hint = closestMatch(command, Object.keys(COMMANDS));
      throw usageError('', `unknown command "${command}"${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    return await handler(rest, io);
  } catch (error) {
    if (isConfigError(error)) {
      io.stderr(formatConfigError(error));
      return EXIT_USAGE;
    }
    if (isClientError(error)) {
      io.stderr(formatClientError(error));
      return EXIT_FAILURE;
    }
    if (isRequestError(error)) {
      io.stderr(`portcullis: ${error.code}: ${error.message}`);
      return EXIT_FAILURE;
    }
    io.stderr(`portcullis: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILURE;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await run(process.argv.slice(2));
}
