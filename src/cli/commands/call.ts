import type { Client, ClientCapabilities } from '@modelcontextprotocol/client';
import { asClientError, callTool, connectRemote } from '../../client/index.ts';
import { ClientError } from '../../errors/index.ts';
import { CLIENT_FLAGS, CLIENT_OPTIONS_HELP, clientSetup } from '../client-options.ts';
import { type CliIo, EXIT_FAILURE, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';
import { packageVersion } from '../version.ts';

export const CALL_HELP = `Usage: portcullis call URL TOOL [--args JSON] [options]

Connect to the remote MCP server at URL (Streamable HTTP), authorizing as needed, list its
tools, call TOOL with the JSON object given by --args, and print the result as JSON on standard
output. Progress and the authorization URL go to standard error.

  --args JSON                 Tool arguments, a JSON object (default: {}).

When the server asks for input in the middle of the call (a 2025 server-to-client request, or
an MCP 2026-07-28 input_required result, after which the call is retried with the server's
requestState unchanged), only these answers are available; anything else is refused:
  --elicit JSON|decline|cancel
                              Answer every form elicitation: accept with this JSON object as
                              the content, or decline, or cancel. Without it, elicitation is
                              not offered to the server.
  --root URI                  A root to offer (repeatable; file:// URIs). Without it, roots
                              are not offered. Sampling is never offered (no model here).

${CLIENT_OPTIONS_HELP}

  -h, --help                  Show this help.

Exit codes: 0 the tool succeeded, 1 the call failed or the tool reported an error (the result
is still printed), 2 usage error.`;

export async function callCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'call',
    args,
    {
      ...CLIENT_FLAGS,
      args: { type: 'string' },
      elicit: { type: 'string' },
      root: { type: 'string', multiple: true },
    },
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
  const answers = parseAnswers(values.elicit, values.root ?? []);
  const setup = clientSetup('call', url, values, io);
  let connection: Awaited<ReturnType<typeof connectRemote>> | undefined;
  try {
    connection = await connectRemote({
      serverUrl: setup.serverUrl,
      fetch: setup.fetch,
      clientInfo: { name: 'portcullis', version: packageVersion() },
      protocol: setup.protocol,
      capabilities: answers.capabilities,
      notice: (text) => io.stderr(text),
      prepare: (client) => answerInputRequests(client, answers, io),
    });
    const result = await callTool(connection.client, tool, toolArgs);
    io.stdout(JSON.stringify(result, null, 2));
    return result.isError === true ? EXIT_FAILURE : EXIT_OK;
  } catch (error) {
    throw refusedInput(error) ?? asClientError(error);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

type ElicitAnswer =
  | { action: 'accept'; content: Record<string, string | number | boolean | string[]> }
  | { action: 'decline' | 'cancel' };

interface Answers {
  readonly capabilities: ClientCapabilities;
  readonly elicit?: ElicitAnswer;
  readonly roots: readonly string[];
}

/** `--elicit` and `--root`: what `call` can answer, and so what it offers the server. */
function parseAnswers(elicit: string | undefined, roots: readonly string[]): Answers {
  const capabilities: ClientCapabilities = {};
  let answer: Answers['elicit'];
  if (elicit !== undefined) {
    if (elicit === 'decline' || elicit === 'cancel') answer = { action: elicit };
    else {
      let content: unknown;
      try {
        content = JSON.parse(elicit);
      } catch {
        throw usageError('call', '--elicit must be a JSON object, decline or cancel');
      }
      if (content === null || typeof content !== 'object' || Array.isArray(content)) {
        throw usageError('call', '--elicit must be a JSON object, decline or cancel');
      }
      answer = {
        action: 'accept',
        content: content as Record<string, string | number | boolean | string[]>,
      };
    }
    capabilities.elicitation = { form: {} };
  }
  for (const root of roots) {
    if (!URL.canParse(root) || new URL(root).protocol !== 'file:') {
      throw usageError('call', `--root must be a file:// URI, found "${root}"`);
    }
  }
  if (roots.length > 0) capabilities.roots = {};
  return { capabilities, roots, ...(answer ? { elicit: answer } : {}) };
}

/**
 * The answers `call` gives, through the SDK's handlers: on a 2025 connection they answer the
 * server's requests; on a 2026-07-28 connection the SDK answers an `input_required` result with
 * them and retries the call with `requestState` echoed (basic/patterns/mrtr).
 */
function answerInputRequests(client: Client, answers: Answers, io: CliIo): void {
  const elicit = answers.elicit;
  if (elicit !== undefined) {
    client.setRequestHandler('elicitation/create', async (request) => {
      if ((request.params as { mode?: string }).mode === 'url') {
        io.stderr('The server asked to open a URL (URL-mode elicitation); declined.');
        return { action: 'decline' };
      }
      io.stderr(
        `The server asked: ${String((request.params as { message?: string }).message ?? '')} (answered: ${elicit.action})`,
      );
      return elicit;
    });
  }
  if (answers.roots.length > 0) {
    client.setRequestHandler('roots/list', async () => ({
      roots: answers.roots.map((uri) => ({ uri })),
    }));
  }
}

const INPUT_FIX: Record<string, string> = {
  'elicitation/create': 'pass --elicit JSON (or decline, or cancel) to answer it',
  'roots/list': 'pass --root file:///path to offer roots',
  'sampling/createMessage':
    'call offers no sampling; use portcullis connect with a client that does',
};

/** A question the server asked that `call` was not given an answer for, said plainly. */
function refusedInput(error: unknown): ClientError | undefined {
  const message = (error as Error)?.message ?? '';
  const method = /\((elicitation\/create|sampling\/createMessage|roots\/list)\)/.exec(message)?.[1];
  if (!method || !/Cannot request input|not supported|capabilit/i.test(message)) return undefined;
  return new ClientError(
    'ClientToolFailed',
    `the server asked for input (${method}) in the middle of the call, and call was given no answer for it`,
    { fix: INPUT_FIX[method] ?? 'answer it with a client that can', cause: error },
  );
}
