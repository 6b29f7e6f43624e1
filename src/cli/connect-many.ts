import {
  type AggregateEntry,
  createStaticHeadersFetch,
  parseServerUrl,
  runAggregateStdio,
} from '../client/index.ts';
import { loadClientServersFile } from '../config/index.ts';
import { clientSetup } from './client-options.ts';
import { type CliIo, EXIT_OK } from './io.ts';
import { usageError } from './parse-flags.ts';
import { packageVersion } from './version.ts';

/** Per-server flags that come from the servers file, not the command line. */
const FILE_ONLY = [
  'header',
  'scope',
  'client-id',
  'client-secret-env',
  'client-metadata-url',
  'private-key-file',
  'private-key-env',
  'grant',
  'callback-port',
  'protocol',
  'no-resource-parameter',
] as const;

interface SharedValues {
  readonly 'token-store'?: string;
  readonly open?: string;
  readonly 'non-interactive'?: boolean;
  readonly 'allow-loopback-urls'?: boolean;
  readonly [flag: string]: unknown;
}

/** `connect --config FILE`: several remote servers as one stdio server. */
export async function connectMany(file: string, values: SharedValues, io: CliIo): Promise<number> {
  const given = FILE_ONLY.filter((flag) => values[flag] !== undefined);
  if (given.length > 0) {
    throw usageError(
      'connect',
      `with --config, ${given.map((f) => `--${f}`).join(', ')} belong in the servers file (per server)`,
    );
  }
  const servers = loadClientServersFile(file, io.env);
  const shared = {
    ...(values['token-store'] === undefined ? {} : { 'token-store': values['token-store'] }),
    ...(values.open === undefined ? {} : { open: values.open }),
    'non-interactive': values['non-interactive'] === true,
    'allow-loopback-urls': values['allow-loopback-urls'] === true,
  };
  const entries: AggregateEntry[] = servers.servers.map((server) => {
    if (server.headers) {
      // Values were expanded from the environment when the file was read.
      const serverUrl = parseServerUrl(server.url);
      const fetch = createStaticHeadersFetch(serverUrl, server.headers);
      return {
        name: server.name,
        serverUrl,
        fetch,
        oauth: false,
        ...(server.protocol ? { protocol: server.protocol } : {}),
      };
    }
    const oauth = server.oauth ?? {};
    const setup = clientSetup(
      'connect',
      server.url,
      {
        ...shared,
        ...(oauth.scope === undefined ? {} : { scope: oauth.scope }),
        ...(oauth.client_id === undefined ? {} : { 'client-id': oauth.client_id }),
        ...(oauth.client_secret_env === undefined
          ? {}
          : { 'client-secret-env': oauth.client_secret_env }),
        ...(oauth.client_metadata_url === undefined
          ? {}
          : { 'client-metadata-url': oauth.client_metadata_url }),
        ...(oauth.callback_port === undefined
          ? {}
          : { 'callback-port': String(oauth.callback_port) }),
        ...(oauth.resource_parameter === false ? { 'no-resource-parameter': true } : {}),
      },
      io,
    );
    const session = setup.session;
    return {
      name: server.name,
      serverUrl: setup.serverUrl,
      fetch: setup.fetch,
      oauth: true,
      ...(server.protocol ? { protocol: server.protocol } : {}),
      ...(session ? { abort: () => session.abort() } : {}),
    };
  });
  await runAggregateStdio({
    entries,
    input: process.stdin,
    output: process.stdout,
    notice: (text) => io.stderr(text),
    clientInfo: { name: 'portcullis', version: packageVersion() },
  });
  return EXIT_OK;
}
