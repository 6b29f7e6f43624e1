import { JWT_BEARER_GRANT } from '../../config/index.ts';
import { RequestError } from '../../errors/index.ts';
import { isLoopbackHost } from '../../lib/host.ts';
import type { JsonObject } from '../../store/index.ts';
import { DEVICE_CODE_GRANT } from '../device.ts';
import { hasDeceptiveCharacters } from './display-text.ts';
import { type RedirectUriRules, redirectUriProblem } from './redirect-uri.ts';
import { parseScope } from './scope.ts';

export type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

/** Client metadata after validation: only the fields this server understands. */
export interface ClientMetadata {
  readonly redirect_uris: readonly string[];
  readonly grant_types: readonly (
    | 'authorization_code'
    | 'refresh_token'
    | typeof DEVICE_CODE_GRANT
    | typeof JWT_BEARER_GRANT
  )[];
  /** `[]` for a client of the device grant alone (no redirect, no response). */
  readonly response_types: readonly [] | readonly ['code'];
  readonly token_endpoint_auth_method: AuthMethod;
  readonly client_name?: string;
  readonly client_uri?: string;
  readonly logo_uri?: string;
  readonly tos_uri?: string;
  readonly policy_uri?: string;
  readonly scope?: string;
  readonly application_type?: 'native' | 'web';
}

export const MAX_REDIRECT_URIS = 10;
export const MAX_CLIENT_NAME_LENGTH = 100;

/** Where metadata comes from: a registration request (RFC 7591) or a metadata document. */
export type MetadataSource = 'registration' | 'document';

const invalid = (message: string) => new RequestError('OAuthInvalidClientMetadata', message);

/** JWK members that only private (or symmetric) keys have. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/**
 * Validates client metadata (RFC 7591 §2; for documents also
 * draft-ietf-oauth-client-id-metadata-document §4.1). What is refused:
 * - redirect URIs that are not https or loopback http, or that carry a fragment, wildcard or
 *   userinfo (`invalid_redirect_uri`); more than ten of them;
 * - grant types other than authorization_code and refresh_token. client_credentials is only for
 *   pre-registered clients: a client anyone can register must not get tokens without a user;
 * - response types other than code; auth methods other than none and client_secret_basic/post;
 * - in a document: any shared secret (`client_secret`, secret-based auth methods) and any
 *   private key material, since the document is public;
 * - software statements (never trusted, RFC 7591 §2.3); non-https informational URIs; control
 *   characters or overlong names; scopes outside what the gateway allows.
 * `options` carry what the issuer adds (redirect-uri.ts); without them the stricter apply.
 */
export function validateClientMetadata(
  input: unknown,
  source: MetadataSource,
  allowedScopes: readonly string[],
  options: {
    /** What the issuer adds to the redirect URI rules (redirect-uri.ts). */
    readonly confinedCookiePath?: boolean;
    /**
     * The client is listed in a trusted identity provider's `allowed_clients`, so it may carry
     * the JWT bearer grant (RFC 7523); no other client anyone can register may.
     */
    readonly jwtBearer?: boolean;
  } = {},
): ClientMetadata {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalid('client metadata must be a JSON object');
  }
  const doc = input as Record<string, unknown>;
  if (doc.software_statement !== undefined) {
    throw invalid('software statements are not accepted');
  }
  const grantTypes = checkGrantTypes(doc.grant_types, options.jwtBearer === true);
  // RFC 8628: a client of the device grant alone has no redirect URI and no response type.
  const deviceOnly = !grantTypes.includes('authorization_code');
  const redirectUris =
    deviceOnly && isEmptyList(doc.redirect_uris)
      ? []
      : checkRedirectUris(
          doc.redirect_uris,
          options.confinedCookiePath === undefined
            ? undefined
            : { confinedCookiePath: options.confinedCookiePath },
        );
  return {
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    response_types:
      deviceOnly && isEmptyList(doc.response_types) ? [] : checkResponseTypes(doc.response_types),
    token_endpoint_auth_method: checkAuthMethod(doc, source),
    ...checkClientName(doc.client_name),
    ...checkInformationalUris(doc),
    ...checkScope(doc.scope, allowedScopes),
    ...checkApplicationType(doc.application_type, redirectUris),
  };
}

function isEmptyList(value: unknown): boolean {
  return value === undefined || (Array.isArray(value) && value.length === 0);
}

function checkGrantTypes(value: unknown, jwtBearer: boolean): ClientMetadata['grant_types'] {
  const grantTypes = stringList(value, 'grant_types') ?? ['authorization_code'];
  for (const type of grantTypes) {
    if (type === JWT_BEARER_GRANT && jwtBearer) continue;
    if (type !== 'authorization_code' && type !== 'refresh_token' && type !== DEVICE_CODE_GRANT) {
      throw invalid(
        type === 'client_credentials'
          ? 'client_credentials is available only to pre-registered clients'
          : type === JWT_BEARER_GRANT
            ? 'the JWT bearer grant is available only to clients a trusted identity provider lists'
            : `grant type ${type.slice(0, 40)} is not supported`,
      );
    }
  }
  // A listed client may live on assertions alone; any other needs a user's authorization.
  const assertionsOnly = jwtBearer && grantTypes.includes(JWT_BEARER_GRANT);
  if (
    !grantTypes.includes('authorization_code') &&
    !grantTypes.includes(DEVICE_CODE_GRANT) &&
    !assertionsOnly
  ) {
    throw invalid(`grant_types must include authorization_code or ${DEVICE_CODE_GRANT}`);
  }
  return grantTypes as ClientMetadata['grant_types'];
}

function checkResponseTypes(value: unknown): ['code'] {
  const responseTypes = stringList(value, 'response_types') ?? ['code'];
  if (responseTypes.some((type) => type !== 'code')) {
    throw invalid('only the code response type is supported');
  }
  return ['code'];
}

function checkRedirectUris(value: unknown, rules: RedirectUriRules | undefined): string[] {
  const redirectUris = stringList(value, 'redirect_uris');
  if (redirectUris === undefined || redirectUris.length === 0) {
    throw new RequestError('OAuthInvalidRedirectUri', 'redirect_uris is required');
  }
  if (redirectUris.length > MAX_REDIRECT_URIS) {
    throw new RequestError('OAuthInvalidRedirectUri', `at most ${MAX_REDIRECT_URIS} redirect URIs`);
  }
  for (const uri of redirectUris) {
    const problem = redirectUriProblem(uri, rules);
    if (problem !== undefined) {
      throw new RequestError('OAuthInvalidRedirectUri', `redirect URI ${problem}`);
    }
  }
  return redirectUris;
}

/** Shown on the consent page (escaped there); bounded and free of control characters here. */
function checkClientName(name: unknown): { client_name?: string } {
  if (name === undefined) return {};
  if (
    typeof name !== 'string' ||
    name.trim() === '' ||
    name.length > MAX_CLIENT_NAME_LENGTH ||
    hasDeceptiveCharacters(name)
  ) {
    throw invalid(
      `client_name must be 1 to ${MAX_CLIENT_NAME_LENGTH} characters without control, bidirectional or invisible characters`,
    );
  }
  return { client_name: name };
}

/** Informational URIs are never fetched; they must still be https (CIMD §8.6). */
function checkInformationalUris(
  doc: Record<string, unknown>,
): Pick<ClientMetadata, 'client_uri' | 'logo_uri' | 'tos_uri' | 'policy_uri'> {
  const out: { [K in 'client_uri' | 'logo_uri' | 'tos_uri' | 'policy_uri']?: string } = {};
  for (const field of ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'jwks_uri'] as const) {
    const value = doc[field];
    if (value === undefined) continue;
    if (
      typeof value !== 'string' ||
      value.length > 2048 ||
      !URL.canParse(value) ||
      new URL(value).protocol !== 'https:'
    ) {
      throw invalid(`${field} must be an https URL`);
    }
    if (field !== 'jwks_uri') out[field] = value;
  }
  return out;
}

function checkScope(value: unknown, allowedScopes: readonly string[]): { scope?: string } {
  if (value === undefined) return {};
  if (typeof value !== 'string') throw invalid('scope must be a string');
  let scopes: string[] | undefined;
  try {
    scopes = parseScope(value);
  } catch {
    throw invalid('scope must be scope tokens separated by single spaces');
  }
  const outside = (scopes ?? []).filter((scope) => !allowedScopes.includes(scope));
  if (outside.length > 0) throw invalid(`scope ${outside.join(' ')} is not offered here`);
  return { scope: (scopes ?? []).join(' ') };
}

/**
 * `application_type` (OpenID Connect Dynamic Client Registration §2, which MCP 2026-07-28
 * "Client Registration" requires clients to send) constrains the redirect URIs:
 * - `native`: loopback redirect URIs only (RFC 8252 §7.3). Private-use schemes (RFC 8252 §7.1)
 *   are refused for every client by redirectUriProblem, so none reaches here;
 * - `web`: https to a host other than loopback only.
 * When it is absent the server does not apply OpenID Connect's `web` default: it issues no ID
 * tokens, RFC 7591 has no such member, and clients of the 2025 revisions omit it while
 * registering loopback redirect URIs (MCP 2026-07-28 notes that servers outside OpenID Connect
 * ignore it). The type is then inferred from the redirect URIs when they are all of one kind,
 * and left unset when they mix both (such a client keeps the rules that applied before).
 */
function checkApplicationType(
  value: unknown,
  redirectUris: readonly string[],
): { application_type?: 'native' | 'web' } {
  const loopback = redirectUris.map((uri) => isLoopbackHost(new URL(uri).hostname));
  if (value === undefined) {
    if (loopback.length === 0) return {};
    if (loopback.every(Boolean)) return { application_type: 'native' };
    if (!loopback.some(Boolean)) return { application_type: 'web' };
    return {};
  }
  if (value !== 'native' && value !== 'web') {
    throw invalid('application_type must be native or web');
  }
  const misfit = loopback.findIndex((isLoopback) => isLoopback !== (value === 'native'));
  if (misfit !== -1) {
    throw new RequestError(
      'OAuthInvalidRedirectUri',
      value === 'native'
        ? `application_type native allows only loopback redirect URIs (RFC 8252 §7.3); redirect_uris[${misfit}] is not one`
        : `application_type web allows only https redirect URIs to a host other than loopback; redirect_uris[${misfit}] is loopback`,
    );
  }
  return { application_type: value };
}

function checkAuthMethod(doc: Record<string, unknown>, source: MetadataSource): AuthMethod {
  const declared = doc.token_endpoint_auth_method;
  if (source === 'document') {
    if (doc.client_secret !== undefined || doc.client_secret_expires_at !== undefined) {
      throw invalid('a client metadata document must not contain a client secret');
    }
    checkNoPrivateKeys(doc.jwks);
    if (doc.token_endpoint_auth_methods_supported !== undefined) {
      return chooseDocumentAuthMethod(doc.token_endpoint_auth_methods_supported, declared);
    }
    if (declared === undefined || declared === 'none') return 'none';
    if (typeof declared === 'string' && /secret/.test(declared)) {
      throw invalid('a client metadata document must not use a shared-secret auth method');
    }
    throw invalid('only token_endpoint_auth_method none is supported for metadata documents');
  }
  // RFC 7591 §2: the default is client_secret_basic.
  const method = declared ?? 'client_secret_basic';
  if (method !== 'none' && method !== 'client_secret_basic' && method !== 'client_secret_post') {
    throw invalid(
      'token_endpoint_auth_method must be none, client_secret_basic or client_secret_post',
    );
  }
  if (doc.jwks !== undefined) checkNoPrivateKeys(doc.jwks);
  return method;
}

/** What a client ID metadata document's client may authenticate with here: no secret can exist. */
const DOCUMENT_AUTH_METHODS: readonly AuthMethod[] = ['none'];

/**
 * A metadata document may list every method its client can use in the multi-valued
 * `token_endpoint_auth_methods_supported` (OpenID Connect RP Metadata Choices §2), which the
 * client ID metadata document draft (§6, "Client Authentication") lets it carry beside or instead
 * of `token_endpoint_auth_method`. Methods this server does not offer are skipped, not errors
 * (RP Metadata Choices §4); the single-valued member, if present, must be one of the list; and no
 * method in common aborts the request with unauthorized_client, as the draft says.
 */
function chooseDocumentAuthMethod(listed: unknown, declared: unknown): AuthMethod {
  const methods = stringList(listed, 'token_endpoint_auth_methods_supported') ?? [];
  if (methods.length === 0)
    throw invalid('token_endpoint_auth_methods_supported must not be empty');
  if (declared !== undefined && (typeof declared !== 'string' || !methods.includes(declared))) {
    throw invalid(
      'token_endpoint_auth_method must be one of token_endpoint_auth_methods_supported',
    );
  }
  const common = DOCUMENT_AUTH_METHODS.find((method) => methods.includes(method));
  if (common === undefined) {
    const shown = methods.slice(0, 5).map((method) => method.slice(0, 40));
    throw new RequestError(
      'OAuthUnauthorizedClient',
      `no token endpoint authentication method in common: the client metadata document lists ${shown.join(', ')}; this server accepts ${DOCUMENT_AUTH_METHODS.join(', ')} for such clients`,
    );
  }
  return common;
}

function checkNoPrivateKeys(jwks: unknown): void {
  if (jwks === undefined) return;
  const keys =
    jwks !== null && typeof jwks === 'object' && Array.isArray((jwks as { keys?: unknown }).keys)
      ? ((jwks as { keys: unknown[] }).keys as unknown[])
      : undefined;
  if (keys === undefined) throw invalid('jwks must be a JWK set');
  for (const key of keys) {
    if (key === null || typeof key !== 'object') throw invalid('jwks must hold JWK objects');
    if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) {
      throw invalid('jwks must not contain private or symmetric key material');
    }
  }
}

function stringList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw invalid(`${name} must be an array of strings`);
  }
  return [...new Set(value as string[])];
}

/** The metadata as stored and as echoed in a registration response. */
export function metadataToJson(metadata: ClientMetadata): JsonObject {
  return JSON.parse(JSON.stringify(metadata)) as JsonObject;
}
