import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadClientServersFile, loadConfigFile } from '../../config/index.ts';
import { type CliIo, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const CONFIG_HELP = `Usage: portcullis config check --config FILE

Validate a config file: schema, fail-closed rules, environment references and *_env secrets.
Prints every problem with its key path and a fix. A client servers file (top-level \`servers:\`,
for \`portcullis connect --config\`) is checked against its own schema.

Options:
  --config FILE   YAML config to check.
  -h, --help      Show this help.

Exit codes: 0 valid, 2 invalid (or usage error).`;

export async function configCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(CONFIG_HELP);
    return sub === undefined ? 2 : EXIT_OK;
  }
  if (sub !== 'check')
    throw usageError('config', `unknown subcommand "${sub}" (did you mean check?)`);
  const { values } = parseFlags('config check', rest, {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(CONFIG_HELP);
    return EXIT_OK;
  }
  if (values.config === undefined) throw usageError('config check', '--config FILE is required');
  if (isClientServersFile(values.config)) {
    const file = loadClientServersFile(values.config, io.env);
    io.stdout(`${values.config}: valid client servers file (${file.servers.length} server(s))`);
    return EXIT_OK;
  }
  const loaded = loadConfigFile(values.config, { env: io.env });
  const upstreams = loaded.derived.upstreams.map((u) => `${u.path} → ${u.name}`).join(', ');
  io.stdout(
    `${values.config}: valid (${loaded.derived.upstreams.length} upstream(s): ${upstreams})`,
  );
  return EXIT_OK;
}

/** A client servers file has `servers:` and no `upstreams:`; anything else is a gateway config. */
function isClientServersFile(path: string): boolean {
  try {
    const document: unknown = parse(readFileSync(path, 'utf8'));
    return (
      document !== null &&
      typeof document === 'object' &&
      'servers' in document &&
      !('upstreams' in document)
    );
  } catch {
    return false; // the gateway loader reports unreadable files and YAML errors precisely
  }
}
