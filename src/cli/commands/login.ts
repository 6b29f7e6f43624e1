import { bearerChallenge } from '../../client/index.ts';
import { CLIENT_FLAGS, CLIENT_OPTIONS_HELP, clientSetup } from '../client-options.ts';
import { type CliIo, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const LOGIN_HELP = `Usage: portcullis login URL [--device] [options]

Run the MCP authorization dance against the remote MCP server at URL and store the tokens
(encrypted) for later connect and call commands: discovery, registration, PKCE with a loopback
callback, token request. A new authorization is run even when tokens are stored.

  --device                    Headless sign-in (OAuth 2.0 device authorization grant, RFC 8628)
                              for machines without a browser: a code and a URL are printed;
                              enter the code there from any device, and login waits until it
                              is approved, denied or expires. Needs an authorization server
                              that offers it (device_authorization_endpoint).

${CLIENT_OPTIONS_HELP.split('\n\nStatic headers')[0]}

  -h, --help                  Show this help.

Exit codes: 0 authorized, 1 authorization failed, 2 usage error.`;

export async function loginCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'login',
    args,
    { ...CLIENT_FLAGS, device: { type: 'boolean' } },
    1,
  );
  if (values.help) {
    io.stdout(LOGIN_HELP);
    return EXIT_OK;
  }
  const [url] = positionals;
  if (url === undefined) throw usageError('login', 'URL is required');
  if ((values.header ?? []).length > 0) {
    throw usageError('login', '--header is static-header mode; there is nothing to log in to');
  }
  if (values['non-interactive']) {
    throw usageError('login', '--non-interactive makes no sense for login');
  }
  const setup = clientSetup(
    'login',
    url,
    values,
    io,
    values.device === true ? { grant: 'device_code' } : {},
  );
  const session = setup.session;
  if (session === undefined) throw usageError('login', 'login needs OAuth');
  // Ask the server first: its challenge names the metadata and the scope it wants.
  const probe = await fetch(setup.serverUrl, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
  await probe?.body?.cancel().catch(() => undefined);
  const challenge =
    probe?.status === 401 ? bearerChallenge(probe.headers.get('www-authenticate')) : undefined;
  await session.authorize(challenge ? { challenge } : {});
  const tokens = await session.currentTokens();
  const expires =
    tokens?.expires_at === undefined
      ? 'no expiry given'
      : `expires ${new Date(tokens.expires_at).toISOString()}`;
  io.stderr(
    `Logged in to ${setup.serverUrl.href} (${(tokens?.scope ?? tokens?.requested_scope) ? `scope "${tokens?.scope ?? tokens?.requested_scope}", ` : ''}${expires}${tokens?.refresh_token ? ', refreshable' : ''}).`,
  );
  return EXIT_OK;
}
