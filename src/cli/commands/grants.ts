import { operator } from '../../authorization-server/index.ts';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.ts';
import { columns, loadOperatorConfig, printJson, shortTime, withStore } from '../operator-io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';
import { grantJson } from './clients.ts';

export const GRANTS_HELP = `Usage: portcullis grants list [--user NAME] [--all] [--json] [--config FILE]
       portcullis grants revoke GRANT_ID [--json] [--config FILE]

Grants of the co-located authorization server: who allowed which client what, at which
resource. Each grant is one family of tokens (the code redemption and every refresh after it).

  list      Live grants (neither revoked nor past their end), newest first, with first and
            last use; --user narrows to one user, --all includes revoked and expired ones.
  revoke    Revoke a grant and every token of its family: the gateway refuses its access
            tokens at once and its refresh token stops working.

Options:
  --config FILE   YAML config (its store block says where grants live). Default: the
                  quickstart's, when run where the quickstart keeps ./data.
  --user NAME     Only this user's grants.
  --all           Revoked and expired grants too.
  --json          Print JSON instead of text.
  -h, --help      Show this help.

Exit codes: 0 success, 1 runtime failure (an unknown grant id), 2 usage or config error.`;

export async function grantsCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(GRANTS_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub !== 'list' && sub !== 'revoke') {
    throw usageError('grants', `unknown subcommand "${sub}" (one of list, revoke)`);
  }
  const { values, positionals } = parseFlags(
    `grants ${sub}`,
    rest,
    {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...(sub === 'list'
        ? { user: { type: 'string' as const }, all: { type: 'boolean' as const, default: false } }
        : {}),
      help: { type: 'boolean', short: 'h', default: false },
    },
    sub === 'list' ? 0 : 1,
  );
  if (values.help) {
    io.stdout(GRANTS_HELP);
    return EXIT_OK;
  }
  const loaded = loadOperatorConfig(`grants ${sub}`, values.config, io);
  const now = Date.now();
  if (sub === 'revoke') {
    const id = positionals[0];
    if (id === undefined) throw usageError('grants revoke', 'GRANT_ID is required');
    return withStore(loaded, io, async (store) => {
      const newly = await operator.revokeGrant(store, id, now);
      if (values.json) printJson(io, { grant_id: id, revoked: true, already_revoked: !newly });
      else io.stdout(newly ? `revoked grant ${id}` : `grant ${id} was already revoked`);
      return EXIT_OK;
    });
  }
  const user = typeof values.user === 'string' ? values.user : undefined;
  const all = values.all === true;
  return withStore(loaded, io, async (store) => {
    const grants = await operator.listGrants(
      store,
      { ...(user === undefined ? {} : { subject: user }), all },
      now,
    );
    if (values.json) printJson(io, { grants: grants.map(grantJson) });
    else if (grants.length === 0) io.stdout(all ? 'no grants' : 'no live grants');
    else
      io.stdout(
        columns(
          ['GRANT ID', 'USER', 'CLIENT ID', 'SCOPES', 'FIRST USED', 'LAST USED', 'STATE'],
          grants.map((g) => [
            g.grantId,
            g.subject || '-',
            g.clientId,
            g.scopes.join(' ') || '-',
            shortTime(g.createdAt),
            shortTime(g.lastUsedAt),
            g.revokedAt !== undefined ? 'revoked' : g.expiresAt <= now ? 'expired' : 'live',
          ]),
        ),
      );
    return EXIT_OK;
  });
}
