import { neutralizeForDisplay, operator } from '../../authorization-server/index.ts';
import type { GrantListing } from '../../store/index.ts';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.ts';
import {
  columns,
  isoTime,
  loadOperatorConfig,
  printJson,
  shortTime,
  withStore,
} from '../operator-io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

/**
 * A client's name as the terminal shows it: the client chose it (RFC 7591 §2), so control,
 * reordering and invisible characters are neutralized, as on the pages (JSON output keeps it).
 */
const shownName = (name: string | undefined): string =>
  name === undefined ? '-' : neutralizeForDisplay(name);

export const CLIENTS_HELP = `Usage: portcullis clients list [--json] [--config FILE]
       portcullis clients show CLIENT_ID [--json] [--config FILE]
       portcullis clients disable CLIENT_ID [--json] [--config FILE]
       portcullis clients enable CLIENT_ID [--json] [--config FILE]
       portcullis clients delete CLIENT_ID [--json] [--config FILE]

The clients of the co-located authorization server: those in the config (authorization_server.
clients: change them there) and those that registered themselves (dynamic registration) or
were disabled by their client ID metadata document URL.

  list      Every client: kind, name (self-asserted names are "unverified"), last use, live grants.
  show      One client with its redirect URIs and every grant it holds.
  disable   Refuse the client from now on and revoke its grants: its access tokens stop working
            at the gateway at once, its next token request fails. A client_id URL (metadata
            document client) can be disabled too.
  enable    Accept a disabled client again (its revoked grants stay revoked).
  delete    Remove a registered client and revoke its grants; it may register again.

Options:
  --config FILE   YAML config (its store block says where clients live). Default: the
                  quickstart's, when run where the quickstart keeps ./data.
  --json          Print JSON instead of text.
  -h, --help      Show this help.

Exit codes: 0 success, 1 runtime failure (an unknown client id), 2 usage or config error.`;

const SUBCOMMANDS = ['list', 'show', 'disable', 'enable', 'delete'] as const;

export function grantJson(grant: GrantListing) {
  return {
    grant_id: grant.grantId,
    kind: grant.kind,
    subject: grant.subject,
    client_id: grant.clientId,
    resource: grant.resource,
    scopes: grant.scopes,
    created_at: isoTime(grant.createdAt),
    last_used_at: isoTime(grant.lastUsedAt),
    expires_at: isoTime(grant.expiresAt),
    revoked_at: isoTime(grant.revokedAt),
  };
}

function clientJson(client: operator.ClientOverview) {
  return {
    client_id: client.clientId,
    kind: client.kind,
    name: client.name ?? null,
    verification: client.verification,
    redirect_uris: client.redirectUris,
    created_at: isoTime(client.createdAt),
    last_used_at: isoTime(client.lastUsedAt),
    disabled_at: isoTime(client.disabledAt),
    live_grants: client.liveGrants,
  };
}

export async function clientsCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(CLIENTS_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw usageError('clients', `unknown subcommand "${sub}" (one of ${SUBCOMMANDS.join(', ')})`);
  }
  const { values, positionals } = parseFlags(
    `clients ${sub}`,
    rest,
    {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    sub === 'list' ? 0 : 1,
  );
  if (values.help) {
    io.stdout(CLIENTS_HELP);
    return EXIT_OK;
  }
  const id = positionals[0];
  if (sub !== 'list' && id === undefined)
    throw usageError(`clients ${sub}`, 'CLIENT_ID is required');
  const loaded = loadOperatorConfig(`clients ${sub}`, values.config, io);
  const now = Date.now();
  return withStore(loaded, io, async (store, preRegistered) => {
    const clientId = id ?? '';
    switch (sub) {
      case 'list': {
        const clients = await operator.listClients(store, preRegistered, now);
        if (values.json) printJson(io, { clients: clients.map(clientJson) });
        else if (clients.length === 0) io.stdout('no clients');
        else
          io.stdout(
            columns(
              ['CLIENT ID', 'KIND', 'NAME', 'LAST USED', 'LIVE GRANTS', 'STATUS'],
              clients.map((c) => [
                c.clientId,
                c.kind,
                `${shownName(c.name)}${c.verification === 'unverified' ? ' (unverified)' : ''}`,
                shortTime(c.lastUsedAt),
                String(c.liveGrants),
                c.disabledAt === undefined ? 'enabled' : 'disabled',
              ]),
            ),
          );
        return EXIT_OK;
      }
      case 'show': {
        const client = await operator.showClient(store, preRegistered, clientId, now);
        if (values.json) {
          printJson(io, { ...clientJson(client), grants: client.grants.map(grantJson) });
          return EXIT_OK;
        }
        io.stdout(
          [
            `client id:      ${client.clientId}`,
            `kind:           ${client.kind}`,
            `name:           ${shownName(client.name)} (${client.verification})`,
            `redirect URIs:  ${client.redirectUris.join(' ') || '-'}`,
            `registered:     ${shortTime(client.createdAt)}`,
            `last used:      ${shortTime(client.lastUsedAt)}`,
            `status:         ${client.disabledAt === undefined ? 'enabled' : `disabled since ${shortTime(client.disabledAt)}`}`,
            `grants:         ${client.grants.length} (${client.liveGrants} live)`,
          ].join('\n'),
        );
        if (client.grants.length > 0) {
          io.stdout(
            columns(
              ['GRANT ID', 'USER', 'SCOPES', 'LAST USED', 'STATE'],
              client.grants.map((g) => [
                g.grantId,
                g.subject || '-',
                g.scopes.join(' ') || '-',
                shortTime(g.lastUsedAt),
                g.revokedAt !== undefined ? 'revoked' : g.expiresAt <= now ? 'expired' : 'live',
              ]),
            ),
          );
        }
        return EXIT_OK;
      }
      case 'disable': {
        const { revokedGrants } = await operator.disableClient(store, preRegistered, clientId, now);
        if (values.json)
          printJson(io, { client_id: clientId, disabled: true, revoked_grants: revokedGrants });
        else io.stdout(`disabled client ${clientId}; revoked ${revokedGrants} grant(s)`);
        return EXIT_OK;
      }
      case 'enable': {
        await operator.enableClient(store, clientId);
        if (values.json) printJson(io, { client_id: clientId, disabled: false });
        else io.stdout(`enabled client ${clientId}`);
        return EXIT_OK;
      }
      default: {
        const { revokedGrants } = await operator.deleteClient(store, preRegistered, clientId, now);
        if (values.json)
          printJson(io, { client_id: clientId, deleted: true, revoked_grants: revokedGrants });
        else io.stdout(`deleted client ${clientId}; revoked ${revokedGrants} grant(s)`);
        return EXIT_OK;
      }
    }
  });
}
