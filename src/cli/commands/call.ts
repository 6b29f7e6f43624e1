import { asClientError, callTool, connectRemote } from '../../client/index.ts';
import { CLIENT_FLAGS, CLIENT_OPTIONS_HELP, clientSetup } from '../client-options.ts';
import { type CliIo, EXIT_FAILURE, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';
import { packageVersion } from '../version.ts';

export const CALL_HELP = `Usage: portcullis call URL TOOL [--args JSON] [options]

Connect to the remote MCP server at URL (Streamable HTTP), authorizing as needed, list its
tools, call TOOL with the JSON object given by --args, and print the result as JSON on standard
output. Progress and the authorization URL go to standard error.

  --args JSON                 Tool arguments, a JSON object (default: {}).

${CLIENT_OPTIONS_HELP}

  -h, --help                  Show this help.

Exit codes: 0 the tool succeeded, 1 the call failed or the tool reported an error (the result
is still printed), 2 usage error.`;

export async function callCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'call',
    args,
    { ...CLIENT_FLAGS, args: { type: 'string' } },
    2,
  );
  if (values.help) {
    io.stdout(CALL_HELP);
    return EXIT_OK;
  }
  const [url, tool] = positionals;
  if (url === undefined || tool === undefined)
    throw usageError('call', 'URL and TOOL are required');
  let toolArgs: Record<string, unknown> = {};
  if (values.args !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.args);
    } catch {
      throw usageError('call', '--args must be valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw usageError('call', '--args must be a JSON object');
    }
    toolArgs = parsed as Record<string, unknown>;
  }
  const setup = clientSetup('call', url, values, io);
  let connection: Awaited<ReturnType<typeof connectRemote>> | undefined;
  try {
    connection = await connectRemote({
      serverUrl: setup.serverUrl,
      fetch: setup.fetch,
      clientInfo: { name: 'portcullis', version: packageVersion() },
      protocol: setup.protocol,
    });
    const result = await callTool(connection.client, tool, toolArgs);
    io.stdout(JSON.stringify(result, null, 2));
    return result.isError === true ? EXIT_FAILURE : EXIT_OK;
  } catch (error) {
    throw asClientError(error);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
