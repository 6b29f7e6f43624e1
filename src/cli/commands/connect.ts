import { runStdioBridge } from '../../client/index.ts';
import { CLIENT_FLAGS, CLIENT_OPTIONS_HELP, clientSetup } from '../client-options.ts';
import { type CliIo, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const CONNECT_HELP = `Usage: portcullis connect URL [options]
       portcullis connect --config FILE [--token-store DIR] [--open MODE] [--non-interactive]

Serve MCP on standard input/output and relay every message to the remote MCP server at URL
(Streamable HTTP), both ways, doing the MCP authorization dance as needed. For desktop MCP
clients that only speak stdio. Reconnects with backoff; tokens are refreshed as they expire.
Progress and the authorization URL go to standard error.

With --config FILE, several remote servers are exposed as one stdio server; tool names get the
server's name as a prefix (name__tool). Servers with static headers connect first, all at once;
OAuth servers after, so a pending authorization never holds the others up.

  --config FILE               YAML list of servers (see docs/client.md).

${CLIENT_OPTIONS_HELP}

  -h, --help                  Show this help.

Exit codes: 0 the local client closed the connection, 1 failure, 2 usage error.`;

export async function connectCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'connect',
    args,
    { ...CLIENT_FLAGS, config: { type: 'string' } },
    1,
  );
  if (values.help) {
    io.stdout(CONNECT_HELP);
    return EXIT_OK;
  }
  const [url] = positionals;
  if (values.config !== undefined) {
    if (url !== undefined)
      throw usageError('connect', 'give either URL or --config FILE, not both');
    const { connectMany } = await import('../connect-many.ts');
    return connectMany(values.config, values, io);
  }
  if (url === undefined) throw usageError('connect', 'URL (or --config FILE) is required');
  const setup = clientSetup('connect', url, values, io);
  await runStdioBridge({
    serverUrl: setup.serverUrl,
    fetch: setup.fetch,
    input: process.stdin,
    output: process.stdout,
    notice: (text) => io.stderr(text),
    protocol: setup.protocol,
  });
  await setup.session?.abort();
  return EXIT_OK;
}
