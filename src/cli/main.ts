#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatConfigError, isConfigError } from '../errors/index.ts';
import { closestMatch } from '../lib/did-you-mean.ts';
import { auditCommand } from './commands/audit.ts';
import { configCommand } from './commands/config-check.ts';
import { keysCommand } from './commands/keys.ts';
import { serveCommand } from './commands/serve.ts';
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
  users add        Create a local user of the co-located authorization server, or reset
                   a password (users add NAME --config FILE [--password-stdin]).
  keys rotate      Rotate the authorization server's signing key (keys rotate --config FILE).

Options:
  -h, --help       Show help (also after any command: portcullis serve --help).
  -v, --version    Print the version.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.
Docs: docs/configuration.md, docs/errors.md`;

const COMMANDS: Record<string, (args: readonly string[], io: CliIo) => Promise<number>> = {
  serve: serveCommand,
  config: configCommand,
  audit: auditCommand,
  users: usersCommand,
  keys: keysCommand,
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
