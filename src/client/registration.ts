import {
  isHttpsUrl,
  type OAuthClientMetadata,
  RegistrationRejectedError,
  registerClient,
} from '@modelcontextprotocol/client';
import { ClientError, isRequestError } from '../errors/index.ts';
import type { Discovery } from './discovery.ts';
import { DEVICE_CODE_GRANT } from './token-requests.ts';
import type { TokenStore } from './token-store.ts';
import type { GuardedFetch, StoredClient } from './types.ts';

export interface RegistrationOptions {
  readonly discovery: Discovery;
  readonly store: TokenStore;
  readonly fetch: GuardedFetch;
  /** The loopback redirect URI, with the port already bound; undefined for client_credentials. */
  readonly redirectUri: string | undefined;
  /** Pre-registered credentials (`--client-id`, `--client-secret-env`). */
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** `--client-metadata-url`: this client's metadata document (an https URL with a path). */
  readonly clientMetadataUrl?: string;
  readonly clientName?: string;
  readonly softwareVersion?: string;
  /** The grant the client is for; device_code registers without redirect URIs. */
  readonly grant?: 'authorization_code' | 'client_credentials' | 'device_code';
}

/**
 * Obtains a client ID for the discovered issuer, in the order MCP 2025-11-25 gives: pre-registered
 * credentials; a client ID metadata document when the server advertises support; dynamic client
 * registration (RFC 7591) when it offers an endpoint; else an error saying what to configure.
 * Registrations are stored per issuer and never presented to another one (SEP-2352).
 */
export async function obtainClient(options: RegistrationOptions): Promise<StoredClient> {
  const { discovery } = options;
  const issuer = discovery.issuer;
  if (options.clientId !== undefined) {
    return {
      issuer,
      client_id: options.clientId,
      ...(options.clientSecret === undefined ? {} : { client_secret: options.clientSecret }),
      source: 'pre-registered',
    };
  }

  const cimdSupported = discovery.metadata.client_id_metadata_document_supported === true;
  if (options.clientMetadataUrl !== undefined && !isHttpsUrl(options.clientMetadataUrl)) {
    throw new ClientError(
      'ClientRegistrationUnavailable',
      `--client-metadata-url must be an https URL with a path, found ${options.clientMetadataUrl}`,
    );
  }
  if (options.clientMetadataUrl !== undefined && cimdSupported) {
    return { issuer, client_id: options.clientMetadataUrl, source: 'metadata-document' };
  }

  const stored = await options.store.readClient(issuer);
  if (
    stored &&
    stored.issuer === issuer &&
    stored.source === 'dynamic' &&
    isReusable(stored, options)
  ) {
    return stored;
  }

  const endpoint = discovery.metadata.registration_endpoint;
  if (
    typeof endpoint === 'string' &&
    (options.redirectUri !== undefined || options.grant === 'device_code')
  ) {
    const client = await register(options, options.redirectUri);
    await options.store.writeClient(client);
    return client;
  }

  throw new ClientError(
    'ClientRegistrationUnavailable',
    `${issuer} offers no way for this client to obtain a client ID: ${describeMissing(options, cimdSupported)}`,
    {
      fix: `register a client at ${issuer} and pass --client-id (and --client-secret-env VAR for a confidential client)${cimdSupported ? ', or pass --client-metadata-url with the URL of your client metadata document' : ''}`,
    },
  );
}

function isReusable(client: StoredClient, options: RegistrationOptions): boolean {
  if (client.client_secret_expires_at && client.client_secret_expires_at * 1000 < Date.now()) {
    return false;
  }
  if (options.grant === 'device_code') {
    return (client.grant_types ?? []).includes(DEVICE_CODE_GRANT);
  }
  // A registration is tied to its redirect URI; a different port means registering again.
  return (
    options.redirectUri === undefined || (client.redirect_uris ?? []).includes(options.redirectUri)
  );
}

/** The port a stored dynamic registration's redirect URI uses, to bind the same one again. */
export async function registeredCallbackPort(
  store: TokenStore,
  issuer: string,
): Promise<number | undefined> {
  const stored = await store.readClient(issuer).catch(() => undefined);
  const uri = stored?.source === 'dynamic' ? stored.redirect_uris?.[0] : undefined;
  if (uri === undefined || !URL.canParse(uri)) return undefined;
  const port = Number(new URL(uri).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function describeMissing(options: RegistrationOptions, cimdSupported: boolean): string {
  const parts = ['no --client-id was given'];
  if (!cimdSupported) parts.push('it does not support client ID metadata documents');
  else if (options.clientMetadataUrl === undefined)
    parts.push('no --client-metadata-url was given');
  if (options.redirectUri === undefined)
    parts.push('client_credentials needs a pre-registered client');
  else parts.push('it offers no dynamic client registration');
  return parts.join('; ');
}

async function register(
  options: RegistrationOptions,
  redirectUri: string | undefined,
): Promise<StoredClient> {
  const { discovery } = options;
  const supported = discovery.metadata.token_endpoint_auth_methods_supported;
  // A public client (RFC 8252 §8.4) unless the server only takes confidential ones.
  const method =
    !supported || supported.includes('none')
      ? 'none'
      : (['client_secret_basic', 'client_secret_post'].find((m) => supported.includes(m)) ??
        'none');
  // RFC 8628 has no redirect: the device grant registers without redirect URIs or responses.
  const device = redirectUri === undefined;
  const metadata: OAuthClientMetadata & { application_type: string } = {
    client_name: options.clientName ?? 'Portcullis',
    redirect_uris: device ? [] : [redirectUri],
    grant_types: device
      ? [DEVICE_CODE_GRANT, 'refresh_token']
      : ['authorization_code', 'refresh_token'],
    response_types: device ? [] : ['code'],
    token_endpoint_auth_method: method,
    // MCP draft (SEP-837): a CLI on a loopback redirect is a native application.
    application_type: 'native',
    software_id: 'portcullis',
    ...(options.softwareVersion ? { software_version: options.softwareVersion } : {}),
  };
  try {
    // No `scope`: a registration limited to today's scopes would refuse tomorrow's step-up.
    const registered = await registerClient(discovery.issuer, {
      metadata: discovery.metadata as unknown as Parameters<typeof registerClient>[1]['metadata'],
      clientMetadata: metadata,
      fetchFn: options.fetch,
    });
    return {
      issuer: discovery.issuer,
      client_id: registered.client_id,
      ...(registered.client_secret === undefined
        ? {}
        : { client_secret: registered.client_secret }),
      ...(registered.client_secret_expires_at
        ? { client_secret_expires_at: registered.client_secret_expires_at }
        : {}),
      token_endpoint_auth_method: registered.token_endpoint_auth_method ?? method,
      redirect_uris: registered.redirect_uris?.length
        ? registered.redirect_uris
        : redirectUri === undefined
          ? []
          : [redirectUri],
      grant_types: registered.grant_types?.length ? registered.grant_types : metadata.grant_types,
      source: 'dynamic',
    };
  } catch (error) {
    if (isRequestError(error)) throw error;
    throw new ClientError(
      'ClientRegistrationFailed',
      `dynamic client registration at ${discovery.issuer} failed: ${refusalDetail(error)}`,
      {
        fix: 'register a client by hand and pass --client-id, or --client-metadata-url if supported',
        cause: error,
      },
    );
  }
}

/**
 * What the registration endpoint said, as it said it: its error code (RFC 7591 §3.2.2 names
 * `invalid_redirect_uri`, `invalid_client_metadata`, `invalid_software_statement`,
 * `unapproved_software_statement`; others may come) and its description, read from the raw
 * refusal, so a code the SDK has no class for is not reported as `server_error`.
 */
function refusalDetail(error: unknown): string {
  if (!(error instanceof RegistrationRejectedError)) {
    return printable((error as Error).message ?? String(error));
  }
  const refusal = oauthError(error.body);
  if (refusal === undefined) return `HTTP ${error.status}: ${printable(error.body, 200)}`;
  const description = refusal.error_description;
  return `${printable(refusal.error, 100)}${description ? ` (${printable(description, 200)})` : ''}`;
}

/** Server-chosen text in a terminal message: printable ASCII only, bounded. */
function printable(text: string, limit = 300): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, limit);
}

function oauthError(body: string): { error: string; error_description?: string } | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    if (typeof parsed.error !== 'string' || parsed.error === '') return undefined;
    return {
      error: parsed.error,
      ...(typeof parsed.error_description === 'string'
        ? { error_description: parsed.error_description }
        : {}),
    };
  } catch {
    return undefined;
  }
}
