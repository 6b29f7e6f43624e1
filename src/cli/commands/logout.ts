import { CLIENT_FLAGS, clientSetup } from '../client-options.ts';
import { type CliIo, EXIT_OK } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const LOGOUT_HELP = `Usage: portcullis logout URL [--token-store DIR] [--client-id ID --client-secret-env VAR]

Revoke the stored tokens of the MCP server at URL where its authorization server supports
revocation (RFC 7009), then delete them from the token store. The client registration for the
authorization server is kept (use --forget-client to delete it as well).

Options:
  --token-store DIR           Token store (default: $PORTCULLIS_TOKEN_STORE, else
                              ~/.local/state/portcullis/tokens).
  --client-id ID              The pre-registered client the tokens were issued to, if any,
  --client-secret-env VAR     with its secret (or --private-key-file / --private-key-env),
                              to authenticate the revocation request.
  --forget-client             Also delete the stored client registration for the issuer.
  -h, --help                  Show this help.

Exit codes: 0 done (also when nothing was stored), 1 failure, 2 usage error.`;

export async function logoutCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'logout',
    args,
    { ...CLIENT_FLAGS, 'forget-client': { type: 'boolean', default: false } },
    1,
  );
  if (values.help) {
    io.stdout(LOGOUT_HELP);
    return EXIT_OK;
  }
  const [url] = positionals;
  if (url === undefined) throw usageError('logout', 'URL is required');
  if ((values.header ?? []).length > 0) {
    throw usageError('logout', '--header is static-header mode; nothing is stored to log out of');
  }
  const setup = clientSetup('logout', url, values, io, { interactive: false });
  const session = setup.session;
  if (session === undefined) throw usageError('logout', 'logout needs OAuth');
  const result = await session.logout({ forgetClient: values['forget-client'] });
  io.stderr(
    !result.removed
      ? `No tokens were stored for ${setup.serverUrl.href}.`
      : `Logged out of ${setup.serverUrl.href}: tokens ${result.revoked ? 'revoked and ' : ''}deleted${result.revoked ? '' : ' (the server offers no revocation, or it failed)'}.`,
  );
  return EXIT_OK;
}
