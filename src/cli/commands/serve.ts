import {
  describeConfig,
  type LoadedConfig,
  loadConfigFile,
  missingHttpGates,
} from '../../config/index.ts';
import { ConfigError } from '../../errors/index.ts';
import { type CliIo, EXIT_FAILURE, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';
import { prepareQuickstart, QUICKSTART_CONFIG } from '../quickstart.ts';

export const SERVE_HELP = `Usage: portcullis serve [--config FILE] [--transport http|stdio] [--bind HOST:PORT]
                       [--enable-remote-mcp] [--describe]

Run the gateway in front of the upstream MCP servers named in the config.

Options:
  --config FILE          YAML config (see docs/configuration.md). Without it, the quickstart:
                         examples/quickstart.yaml with local state under ./data/.
  --transport MODE       http (default) or stdio.
  --bind HOST:PORT       Listen address; overrides remote_mcp.bind_address.
  --enable-remote-mcp    Third switch for the HTTP transport, with remote_mcp.enabled and
                         safety.remote_mcp_enabled in the config.
  --describe             Print what would be served (routes, resource URIs, metadata URLs,
                         scopes, limits, effective config with secrets redacted) as JSON, and
                         exit without binding anything.
  -h, --help             Show this help.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.`;

export async function serveCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseFlags('serve', args, {
    config: { type: 'string' },
    transport: { type: 'string', default: 'http' },
    bind: { type: 'string' },
    'enable-remote-mcp': { type: 'boolean', default: false },
    describe: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(SERVE_HELP);
    return EXIT_OK;
  }
  const transport = values.transport;
  if (transport !== 'http' && transport !== 'stdio') {
    throw usageError('serve', `--transport must be http or stdio, found "${transport}"`);
  }
  const configPath = values.config ?? QUICKSTART_CONFIG;
  const env = values.config === undefined ? prepareQuickstart(io.cwd, io.env) : io.env;
  const loaded: LoadedConfig = loadConfigFile(configPath, {
    env,
    ...(values.bind === undefined ? {} : { overrides: { bindAddress: values.bind } }),
  });
  // The quickstart (no --config) is loopback-only by construction, so running it is the switch.
  const enableFlag = values['enable-remote-mcp'] || values.config === undefined;

  if (values.describe) {
    io.stdout(
      JSON.stringify(
        describeConfig(loaded, { transport, enableRemoteMcpFlag: enableFlag }),
        null,
        2,
      ),
    );
    return EXIT_OK;
  }

  if (transport === 'http') {
    const missing = missingHttpGates(loaded, enableFlag);
    if (missing.length > 0) {
      throw new ConfigError(
        'ConfigRefused',
        missing.map((name) => ({
          path: name.startsWith('--') ? 'serve' : name.replace(/: true$/, ''),
          message: `the HTTP transport needs ${name}`,
          fix: name.startsWith('--')
            ? 'add --enable-remote-mcp to the command line'
            : `set ${name} in ${configPath}`,
        })),
        { source: configPath },
      );
    }
  }
  // The gateway itself arrives with the gateway issue; until then say so plainly.
  io.stderr(
    `portcullis: the ${transport} gateway is not implemented in this version yet (see the README's feature status); \`serve --describe\` shows what it would serve.`,
  );
  return EXIT_FAILURE;
}
