import { buildDiscoveryUrls } from '@modelcontextprotocol/sdk/client/auth.js';
import {
  OAuthMetadataSchema,
  OAuthProtectedResourceMetadataSchema,
  OpenIdProviderDiscoveryMetadataSchema,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { ClientError } from '../errors/index.ts';
import {
  canonicalResource,
  type MetadataCandidate,
  metadataCandidates,
  sameResource,
} from './resource.ts';
import type { GuardedFetch } from './types.ts';
import { checkAuthorizationEndpoint, type UrlPolicy } from './url-safety.ts';
import type { BearerChallenge } from './www-authenticate.ts';

/** Authorization server metadata (RFC 8414 §2 / OIDC Discovery §3), validated, unknown members kept. */
export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly registration_endpoint?: string;
  readonly revocation_endpoint?: string;
  readonly scopes_supported?: readonly string[];
  readonly response_types_supported: readonly string[];
  readonly grant_types_supported?: readonly string[];
  readonly code_challenge_methods_supported?: readonly string[];
  readonly token_endpoint_auth_methods_supported?: readonly string[];
  readonly token_endpoint_auth_signing_alg_values_supported?: readonly string[];
  readonly client_id_metadata_document_supported?: boolean;
  readonly authorization_response_iss_parameter_supported?: boolean;
  /** RFC 8628 §4. */
  readonly device_authorization_endpoint?: string;
  readonly [member: string]: unknown;
}

/** Protected resource metadata (RFC 9728 §2), validated. */
export interface ResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly scopes_supported?: readonly string[];
  readonly [member: string]: unknown;
}

/** Everything discovery learned about one MCP server and its authorization server. */
export interface Discovery {
  /** The RFC 8707 `resource` to send on every authorization and token request (canonical). */
  readonly resource: string;
  readonly resourceMetadata?: ResourceMetadata;
  readonly resourceMetadataUrl?: string;
  /** The issuer credentials and tokens are bound to. */
  readonly issuer: string;
  readonly metadata: AuthorizationServerMetadata;
  /**
   * `metadata` is the 2025-03-26 default-endpoint fallback (no protected resource metadata and no
   * authorization server metadata at the MCP server's origin), not a document anyone published.
   */
  readonly defaultEndpoints: boolean;
  /** The server publishes no protected resource metadata: the 2025-03-26 discovery rules apply. */
  readonly legacy: boolean;
}

export interface DiscoverOptions {
  readonly serverUrl: URL;
  readonly fetch: GuardedFetch;
  /** The Bearer challenge that started this discovery, if any. */
  readonly challenge?: BearerChallenge;
  /** Decides which authorization endpoints are acceptable (checked as soon as they are read). */
  readonly policy: UrlPolicy;
}

const HEADERS = { Accept: 'application/json', 'MCP-Protocol-Version': LATEST_PROTOCOL_VERSION };

/**
 * MCP 2025-11-25 discovery: protected resource metadata from the challenge's `resource_metadata`,
 * else the path-inserted well-known URL, else the root one (RFC 9728 §3.1), its `resource` checked
 * (RFC 9728 §3.3); then the authorization server metadata candidates in the spec's order, its
 * `issuer` checked (RFC 8414 §3.3). Without protected resource metadata, the 2025-03-26 rules:
 * the MCP server's origin is the authorization server, with default endpoints as a last resort.
 */
export async function discover(options: DiscoverOptions): Promise<Discovery> {
  const found = await discoverResourceMetadata(options);
  if (found) {
    const issuer = found.metadata.authorization_servers[0];
    if (issuer === undefined) throw new Error('unreachable: validated non-empty');
    const metadata = await discoverAuthorizationServer(options.fetch, issuer, options.policy);
    if (metadata === undefined) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `the authorization server ${issuer} publishes no metadata at any of its well-known URLs`,
        { fix: 'check the authorization_servers entry of the protected resource metadata' },
      );
    }
    return {
      resource: canonicalResource(found.metadata.resource),
      resourceMetadata: found.metadata,
      resourceMetadataUrl: found.url,
      issuer,
      metadata,
      defaultEndpoints: false,
      legacy: false,
    };
  }
  return discoverLegacy(options);
}

async function discoverResourceMetadata(
  options: DiscoverOptions,
): Promise<{ metadata: ResourceMetadata; url: string } | undefined> {
  const { serverUrl, challenge } = options;
  if (challenge?.resourceMetadata !== undefined) {
    // MCP 2025-11-25: when the challenge names the document, use it and probe nothing else.
    const url = challenge.resourceMetadata;
    if (!URL.canParse(url)) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `resource_metadata in the challenge is not a URL: ${JSON.stringify(url.slice(0, 200))}`,
      );
    }
    const response = await options.fetch(url, { headers: HEADERS });
    if (response.status !== 200) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `protected resource metadata at ${url} answered ${response.status}`,
      );
    }
    // RFC 9728 §3.3: advertised in WWW-Authenticate, `resource` must be the URL requested.
    const metadata = await readResourceMetadata(response, url, {
      url,
      acceptableResources: [serverUrl.href],
    });
    return { metadata, url };
  }
  for (const candidate of metadataCandidates(serverUrl)) {
    const response = await options.fetch(candidate.url, { headers: HEADERS });
    if (response.status === 200) {
      return {
        metadata: await readResourceMetadata(response, candidate.url, candidate),
        url: candidate.url,
      };
    }
    if (response.status >= 500) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `protected resource metadata at ${candidate.url} answered ${response.status}`,
      );
    }
  }
  return undefined;
}

async function readResourceMetadata(
  response: Response,
  url: string,
  candidate: MetadataCandidate,
): Promise<ResourceMetadata> {
  const parsed = OAuthProtectedResourceMetadataSchema.safeParse(await readJson(response, url));
  if (!parsed.success) {
    throw new ClientError(
      'ClientDiscoveryFailed',
      `protected resource metadata at ${url} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  const metadata = parsed.data;
  if (
    !candidate.acceptableResources.some((expected) => sameResource(metadata.resource, expected))
  ) {
    throw new ClientError(
      'ClientResourceMismatch',
      `protected resource metadata at ${url} is for ${JSON.stringify(metadata.resource)}, not for ${candidate.acceptableResources[candidate.acceptableResources.length - 1]}; refusing to authorize`,
      { fix: 'the MCP server publishes metadata for another resource; check the server URL' },
    );
  }
  const servers = metadata.authorization_servers ?? [];
  if (servers.length === 0) {
    throw new ClientError(
      'ClientDiscoveryFailed',
      `protected resource metadata at ${url} names no authorization server`,
    );
  }
  return { ...metadata, authorization_servers: servers } as ResourceMetadata;
}

/**
 * The authorization server metadata of `issuer`, tried at the candidate URLs in MCP's order
 * (RFC 8414 path insertion, OIDC path insertion, OIDC path appending; root forms for an issuer
 * without a path). The first 200 wins; its `issuer` must be identical to the one the URL was
 * built from, else it is not used (RFC 8414 §3.3, OIDC Discovery §4.3).
 */
export async function discoverAuthorizationServer(
  fetch: GuardedFetch,
  issuer: string,
  policy: UrlPolicy,
  acceptIssuer: (advertised: string) => boolean = (advertised) => issuerMatches(issuer, advertised),
): Promise<AuthorizationServerMetadata | undefined> {
  if (!URL.canParse(issuer)) {
    throw new ClientError('ClientDiscoveryFailed', `authorization server ${issuer} is not a URL`);
  }
  for (const { url, type } of buildDiscoveryUrls(issuer)) {
    const response = await fetch(url, { headers: HEADERS });
    if (response.status >= 500) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `authorization server metadata at ${url.href} answered ${response.status}`,
      );
    }
    if (response.status !== 200) continue;
    const raw = await readJson(response, url.href);
    // Checked before the schema, so an unsafe endpoint is reported as such (the SDK's schema
    // refuses javascript: and data:, but not file: or shell metacharacters).
    const endpoint = (raw as { authorization_endpoint?: unknown } | null)?.authorization_endpoint;
    if (typeof endpoint === 'string') checkAuthorizationEndpoint(endpoint, policy);
    const schema = type === 'oauth' ? OAuthMetadataSchema : OpenIdProviderDiscoveryMetadataSchema;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new ClientError(
        'ClientDiscoveryFailed',
        `authorization server metadata at ${url.href} is malformed: ${describeIssue(parsed.error.issues[0])}`,
      );
    }
    // Keep members the schema does not know (RFC 9207's flag, for one).
    const metadata = { ...(raw as object), ...parsed.data } as AuthorizationServerMetadata;
    if (!acceptIssuer(metadata.issuer)) {
      throw new ClientError(
        'ClientIssuerMismatch',
        `authorization server metadata at ${url.href} names issuer ${JSON.stringify(metadata.issuer)}, expected ${JSON.stringify(issuer)}; not using it`,
      );
    }
    return metadata;
  }
  return undefined;
}

/**
 * RFC 8414 §3.3: identical strings. The one tolerance: an expected issuer written with a trailing
 * slash (`https://as.example/`) matches metadata that omits it, since both build the same
 * well-known URL.
 */
export function issuerMatches(expected: string, advertised: string): boolean {
  return (
    advertised === expected || (expected.endsWith('/') && advertised === expected.slice(0, -1))
  );
}

async function discoverLegacy(options: DiscoverOptions): Promise<Discovery> {
  const origin = options.serverUrl.origin;
  // 2025-03-26: the authorization base URL is the MCP URL without its path. The document is on
  // the MCP server's own origin, so any issuer on that origin is accepted; credentials and
  // tokens are then bound to the issuer it names.
  const metadata = await discoverAuthorizationServer(
    options.fetch,
    origin,
    options.policy,
    (advertised) => {
      try {
        return new URL(advertised).origin === origin;
      } catch {
        return false;
      }
    },
  );
  const resource = canonicalResource(options.serverUrl.href);
  if (metadata !== undefined) {
    return { resource, issuer: metadata.issuer, metadata, defaultEndpoints: false, legacy: true };
  }
  // 2025-03-26 "Fallbacks for Servers without Metadata Discovery": default endpoint paths.
  return {
    resource,
    issuer: origin,
    metadata: {
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      registration_endpoint: `${origin}/register`,
      response_types_supported: ['code'],
    },
    defaultEndpoints: true,
    legacy: true,
  };
}

async function readJson(response: Response, url: string): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    throw new ClientError('ClientDiscoveryFailed', `${url} did not answer with JSON`);
  }
}

function describeIssue(issue: { path: PropertyKey[]; message: string } | undefined): string {
  if (!issue) return 'invalid';
  const where = issue.path.map(String).join('.');
  return where ? `${where}: ${issue.message}` : issue.message;
}
