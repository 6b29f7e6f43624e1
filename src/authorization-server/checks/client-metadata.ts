import { RequestError } from '../../errors/index.ts';
import type { JsonObject } from '../../store/index.ts';
import { DEVICE_CODE_GRANT } from '../device.ts';
import { redirectUriProblem } from './redirect-uri.ts';
import { parseScope } from './scope.ts';

export type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

/** Client metadata after validation: only the fields this server understands. */
export interface ClientMetadata {
  readonly redirect_uris: readonly string[];
  readonly grant_types: readonly (
    | 'authorization_code'
    | 'refresh_token'
    | typeof DEVICE_CODE_GRANT
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
 */
export function validateClientMetadata(
  input: unknown,
  source: MetadataSource,
  allowedScopes: readonly string[],
): ClientMetadata {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalid('client metadata must be a JSON object');
  }
  const doc = input as Record<string, unknown>;
  if (doc.software_statement !== undefined) {
    throw invalid('software statements are not accepted');
  }
  const grantTypes = checkGrantTypes(doc.grant_types);
  // RFC 8628: a client of the device grant alone has no redirect URI and no response type.
  const deviceOnly = !grantTypes.includes('authorization_code');
  return {
    redirect_uris:
      deviceOnly && isEmptyList(doc.redirect_uris) ? [] : checkRedirectUris(doc.redirect_uris),
    grant_types: grantTypes,
    response_types:
      deviceOnly && isEmptyList(doc.response_types) ? [] : checkResponseTypes(doc.response_types),
    token_endpoint_auth_method: checkAuthMethod(doc, source),
    ...checkClientName(doc.client_name),
    ...checkInformationalUris(doc),
    ...checkScope(doc.scope, allowedScopes),
    ...checkApplicationType(doc.application_type),
  };
}

function isEmptyList(value: unknown): boolean {
  return value === undefined || (Array.isArray(value) && value.length === 0);
}

function checkGrantTypes(value: unknown): ClientMetadata['grant_types'] {
  const grantTypes = stringList(value, 'grant_types') ?? ['authorization_code'];
  for (const type of grantTypes) {
    if (type !== 'authorization_code' && type !== 'refresh_token' && type !== DEVICE_CODE_GRANT) {
      throw invalid(
        type === 'client_credentials'
          ? 'client_credentials is available only to pre-registered clients'
          : `grant type ${type.slice(0, 40)} is not supported`,
      );
    }
  }
  if (!grantTypes.includes('authorization_code') && !grantTypes.includes(DEVICE_CODE_GRANT)) {
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

function checkRedirectUris(value: unknown): string[] {
  const redirectUris = stringList(value, 'redirect_uris');
  if (redirectUris === undefined || redirectUris.length === 0) {
    throw new RequestError('OAuthInvalidRedirectUri', 'redirect_uris is required');
  }
  if (redirectUris.length > MAX_REDIRECT_URIS) {
    throw new RequestError('OAuthInvalidRedirectUri', `at most ${MAX_REDIRECT_URIS} redirect URIs`);
  }
  for (const uri of redirectUris) {
    const problem = redirectUriProblem(uri);
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
    /\p{Cc}/u.test(name)
  ) {
    throw invalid(
      `client_name must be 1 to ${MAX_CLIENT_NAME_LENGTH} characters without control characters`,
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

function checkApplicationType(value: unknown): { application_type?: 'native' | 'web' } {
  if (value === undefined) return {};
  if (value !== 'native' && value !== 'web') {
    throw invalid('application_type must be native or web');
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
