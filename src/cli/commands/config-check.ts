import { loadConfigFile } from '../../config/index.ts';
import { type CliIo, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const CONFIG_HELP = `Usage: portcullis config check --config FILE

Validate a config file: schema, fail-closed rules, environment references and *_env secrets.
Prints every problem with its key path and a fix.

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
  const loaded = loadConfigFile(values.config, { env: io.env });
  const upstreams = loaded.derived.upstreams.map((u) => `${u.path} → ${u.name}`).join(', ');
  io.stdout(
    `${values.config}: valid (${loaded.derived.upstreams.length} upstream(s): ${upstreams})`,
  );
  return EXIT_OK;
}
