import { readFileSync } from 'node:fs';
import {
  createAuthenticatedFetch,
  createOpener,
  createStaticHeadersFetch,
  defaultTokenStoreDir,
  type FetchLike,
  type GuardedFetch,
  isLoopbackUrl,
  isProtocolChoice,
  OAuthSession,
  OPEN_MODES,
  type OpenMode,
  PROTOCOL_CHOICES,
  type PrivateKeyOption,
  type ProtocolChoice,
  parseHeaderFlags,
  parseServerUrl,
  TokenStore,
} from '../client/index.ts';
import { createGuardedFetch } from '../net/index.ts';
import type { CliIo } from './io.ts';
import { usageError } from './parse-flags.ts';
import { packageVersion } from './version.ts';

/** The flags every client command shares (docs/client.md). */
export const CLIENT_FLAGS = {
  header: { type: 'string', multiple: true },
  scope: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-env': { type: 'string' },
  'client-metadata-url': { type: 'string' },
  'private-key-file': { type: 'string' },
  'private-key-env': { type: 'string' },
  grant: { type: 'string' },
  'callback-port': { type: 'string' },
  'token-store': { type: 'string' },
  open: { type: 'string' },
  'non-interactive': { type: 'boolean', default: false },
  'allow-loopback-urls': { type: 'boolean', default: false },
  'no-resource-parameter': { type: 'boolean' },
  protocol: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const CLIENT_OPTIONS_HELP = `Protocol:
  --protocol ERA              auto (default), 2026-07-28 or 2025-11-25. auto probes with
                              server/discover and falls back to the 2025 initialize handshake
                              only when the server answers like a 2025 server; a 401/403 means
                              "authorize", never "old server".

Authorization (OAuth 2.1, MCP 2025-11-25; the default):
  --scope "A B"               Scopes to request. Default: the server's challenge, else its
                              protected resource metadata scopes_supported, else none.
  --client-id ID              A client pre-registered at the authorization server.
  --client-secret-env VAR     Environment variable holding that client's secret.
  --client-metadata-url URL   This client's metadata document (https URL), used as its client ID
                              when the server supports client ID metadata documents.
  --private-key-file FILE     PKCS#8 PEM key for private_key_jwt client authentication
  --private-key-env VAR       (or the PEM in an environment variable).
  --grant TYPE                authorization_code (default) or client_credentials (needs
                              --client-id with a secret or a private key).
  --callback-port N           Port of the loopback redirect URI http://127.0.0.1:N/callback
                              (default: an ephemeral port).
  --open MODE                 How the authorization URL is opened: browser (default; the
                              platform opener, without a shell), print (print it and wait), or
                              fetch (follow it over HTTP without a browser, for authorization
                              servers that approve without interaction, such as test servers).
  --non-interactive           Never start an authorization: use or refresh stored tokens, else
                              fail (exit 1) and say to run portcullis login.
  --token-store DIR           Encrypted token store (default: $PORTCULLIS_TOKEN_STORE, else
                              ~/.local/state/portcullis/tokens). Key: $PORTCULLIS_TOKEN_KEY
                              (32 bytes, hex or base64url), else a key file (0600) in DIR.
  --allow-loopback-urls       Let discovered URLs use plain-http loopback even though the MCP
                              server URL is not loopback (development only; automatic when
                              the server URL is itself loopback).
  --no-resource-parameter     Do not send the RFC 8707 resource parameter, for authorization
                              servers that reject it (Microsoft Entra ID: AADSTS9010010). Risk:
                              the token is then not bound to this server, so a server that
                              receives it could replay it elsewhere; see docs/client.md.

Static headers (instead of OAuth; exclusive with every option above):
  --header "Name: value"      Send this header on every request (repeatable); \${ENV} in the
                              value is expanded from the environment.`;

/** What a command decides for itself rather than through the shared flags. */
export interface ClientOverrides {
  readonly interactive?: boolean;
  readonly open?: OpenMode;
  /** `login --device`: RFC 8628 instead of the browser. */
  readonly grant?: 'device_code';
}

export interface ClientSetup {
  readonly serverUrl: URL;
  /** The fetch the MCP transport uses: authenticated (OAuth) or with static headers. */
  readonly fetch: FetchLike;
  /** Present in OAuth mode. */
  readonly session?: OAuthSession;
  readonly mode: 'oauth' | 'headers';
  /** `--protocol`: which era to speak (default auto). */
  readonly protocol: ProtocolChoice;
}

const OAUTH_FLAGS = [
  'scope',
  'client-id',
  'client-secret-env',
  'client-metadata-url',
  'private-key-file',
  'private-key-env',
  'grant',
  'callback-port',
  'token-store',
  'open',
  'non-interactive',
  'allow-loopback-urls',
  'no-resource-parameter',
] as const;

type ClientFlagValues = {
  header?: string[];
  scope?: string;
  'client-id'?: string;
  'client-secret-env'?: string;
  'client-metadata-url'?: string;
  'private-key-file'?: string;
  'private-key-env'?: string;
  grant?: string;
  'callback-port'?: string;
  'token-store'?: string;
  open?: string;
  'non-interactive'?: boolean;
  'allow-loopback-urls'?: boolean;
  'no-resource-parameter'?: boolean;
  protocol?: string;
};

/**
 * The SSRF guard for every discovered URL (metadata, registration, token, revocation): https to
 * public addresses only, checked on the address connected to; loopback (and plain http to it)
 * only when the MCP server itself is loopback or under --allow-loopback-urls.
 */
export function discoveryFetch(allowLoopback: boolean): GuardedFetch {
  return createGuardedFetch({ allowLoopback });
}

/** Turns the shared flags into a ready client: static headers or an OAuth session. */
export function clientSetup(
  command: string,
  rawUrl: string,
  values: ClientFlagValues,
  io: CliIo,
  overrides: ClientOverrides = {},
): ClientSetup {
  const serverUrl = parseServerUrl(rawUrl);
  const protocol = parseProtocol(command, values.protocol);
  const headers = values.header ?? [];
  if (headers.length > 0) {
    const oauth = OAUTH_FLAGS.filter((flag) => {
      const value = values[flag];
      return value !== undefined && value !== false;
    });
    if (oauth.length > 0) {
      throw usageError(
        command,
        `--header (static headers) and OAuth options (${oauth.map((f) => `--${f}`).join(', ')}) are mutually exclusive`,
      );
    }
    return {
      serverUrl,
      protocol,
      mode: 'headers',
      fetch: createStaticHeadersFetch(serverUrl, parseHeaderFlags(headers, io.env)),
    };
  }
  const session = oauthSession(command, serverUrl, values, io, overrides);
  return {
    serverUrl,
    protocol,
    mode: 'oauth',
    session,
    fetch: createAuthenticatedFetch(session),
  };
}

function oauthSession(
  command: string,
  serverUrl: URL,
  values: ClientFlagValues,
  io: CliIo,
  overrides: ClientOverrides,
): OAuthSession {
  const open = parseOpen(command, overrides.open ?? values.open);
  if (overrides.grant === 'device_code' && values.grant !== undefined) {
    throw usageError(command, '--device and --grant are exclusive');
  }
  const grant = overrides.grant ?? parseGrant(command, values.grant);
  const callbackPort = parsePort(command, values['callback-port']);
  const { clientSecret, privateKey } = clientCredentials(command, io, values, grant);
  if (values['client-metadata-url'] !== undefined && !URL.canParse(values['client-metadata-url'])) {
    throw usageError(command, '--client-metadata-url must be an absolute https URL');
  }
  const loopback = isLoopbackUrl(serverUrl) || values['allow-loopback-urls'] === true;
  const notice = (text: string) => io.stderr(text);
  const storeDir = values['token-store'] ?? defaultTokenStoreDir(io.env);
  return new OAuthSession({
    serverUrl,
    fetch: discoveryFetch(loopback),
    store: TokenStore.open(storeDir, { env: io.env }),
    grant,
    opener: createOpener(open, { notice }),
    interactive: overrides.interactive ?? values['non-interactive'] !== true,
    allowLoopbackHttp: loopback,
    notice,
    clientName: 'Portcullis',
    softwareVersion: packageVersion(),
    ...(values.scope === undefined ? {} : { scope: values.scope }),
    ...(values['client-id'] === undefined ? {} : { clientId: values['client-id'] }),
    ...(clientSecret === undefined ? {} : { clientSecret }),
    ...(values['client-metadata-url'] === undefined
      ? {}
      : { clientMetadataUrl: values['client-metadata-url'] }),
    ...(privateKey === undefined ? {} : { privateKey }),
    ...(callbackPort === undefined ? {} : { callbackPort }),
    ...(values['no-resource-parameter'] === true ? { resourceParameter: false } : {}),
  });
}

/** `--protocol`: auto, 2026-07-28 or 2025-11-25. */
export function parseProtocol(command: string, value: string | undefined): ProtocolChoice {
  const protocol = value ?? 'auto';
  if (!isProtocolChoice(protocol)) {
    throw usageError(
      command,
      `--protocol must be ${PROTOCOL_CHOICES.join(', ')}, found "${protocol}"`,
    );
  }
  return protocol;
}

function parseOpen(command: string, value: string | undefined): OpenMode {
  const open = value ?? 'browser';
  if (!(OPEN_MODES as readonly string[]).includes(open)) {
    throw usageError(command, `--open must be browser, print or fetch, found "${open}"`);
  }
  return open as OpenMode;
}

function parseGrant(
  command: string,
  value: string | undefined,
): 'authorization_code' | 'client_credentials' {
  const grant = value ?? 'authorization_code';
  if (grant !== 'authorization_code' && grant !== 'client_credentials') {
    throw usageError(
      command,
      `--grant must be authorization_code or client_credentials, found "${grant}"`,
    );
  }
  return grant;
}

function parsePort(command: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw usageError(command, `--callback-port must be a port number, found "${value}"`);
  }
  return port;
}

/** The pre-registered client's secret or key, checked against --client-id and the grant. */
function clientCredentials(
  command: string,
  io: CliIo,
  values: ClientFlagValues,
  grant: 'authorization_code' | 'client_credentials' | 'device_code',
): { clientSecret: string | undefined; privateKey: PrivateKeyOption | undefined } {
  const clientSecret = fromEnv(command, io, '--client-secret-env', values['client-secret-env']);
  const privateKey = readPrivateKey(command, io, values);
  const hasId = values['client-id'] !== undefined;
  if (clientSecret !== undefined && !hasId) {
    throw usageError(command, '--client-secret-env needs --client-id');
  }
  if (privateKey !== undefined && !hasId)
    throw usageError(command, 'a private key needs --client-id');
  if (grant === 'client_credentials' && (!hasId || (!clientSecret && !privateKey))) {
    throw usageError(
      command,
      '--grant client_credentials needs --client-id and --client-secret-env or a private key',
    );
  }
  return { clientSecret, privateKey };
}

function fromEnv(
  command: string,
  io: CliIo,
  flag: string,
  name: string | undefined,
): string | undefined {
  if (name === undefined) return undefined;
  const value = io.env[name];
  if (value === undefined || value === '') {
    throw usageError(command, `${flag} ${name}: the environment variable is not set`);
  }
  return value;
}

function readPrivateKey(
  command: string,
  io: CliIo,
  values: ClientFlagValues,
): PrivateKeyOption | undefined {
  const file = values['private-key-file'];
  const env = values['private-key-env'];
  if (file !== undefined && env !== undefined) {
    throw usageError(command, '--private-key-file and --private-key-env are exclusive');
  }
  if (env !== undefined) return { pem: fromEnv(command, io, '--private-key-env', env) ?? '' };
  if (file === undefined) return undefined;
  try {
    return { pem: readFileSync(file, 'utf8') };
  } catch {
    throw usageError(command, `--private-key-file ${file} cannot be read`);
  }
}
