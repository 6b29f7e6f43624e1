import { RequestError } from '../../errors/index.ts';
import type { GuardedFetch } from '../../net/index.ts';

/** What Portcullis uses of a provider's metadata (OpenID Connect Discovery §3, RFC 8414 §2). */
export interface ProviderMetadata {
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string | undefined;
  readonly userinfoEndpoint: string | undefined;
  /** RFC 9207 §3: the provider sends `iss` with every authorization response. */
  readonly issParameterSupported: boolean;
  readonly grantTypes: readonly string[];
}

export const providerError = (message: string, cause?: unknown) =>
  new RequestError('FederationProviderError', message, {
    expose: true,
    ...(cause === undefined ? {} : { cause }),
  });

/** OpenID Connect Discovery §4: the well-known suffix appended to the issuer, path kept. */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

const stringField = (document: Record<string, unknown>, name: string): string | undefined =>
  typeof document[name] === 'string' ? (document[name] as string) : undefined;

/**
 * Reads and checks a discovery document. `issuerMatches` says whether the document's issuer is
 * the one configured (Discovery §4.3: it must be identical; a provider profile may accept a
 * templated multi-tenant issuer).
 */
export async function discover(
  fetch: GuardedFetch,
  issuer: string,
  issuerMatches: (found: string) => boolean,
): Promise<ProviderMetadata> {
  const url = discoveryUrl(issuer);
  let document: Record<string, unknown>;
  try {
    const response = await fetch(url, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    throw providerError(`the provider's discovery document at ${url} cannot be read`, error);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw providerError(`the discovery document at ${url} is not a JSON object`);
  }
  const found = stringField(document, 'issuer');
  if (found === undefined || !issuerMatches(found)) {
    throw providerError(
      `the discovery document names issuer ${found ?? '(none)'}, not the configured ${issuer}`,
    );
  }
  const authorizationEndpoint = stringField(document, 'authorization_endpoint');
  const tokenEndpoint = stringField(document, 'token_endpoint');
  const jwksUri = stringField(document, 'jwks_uri');
  if (authorizationEndpoint === undefined || tokenEndpoint === undefined || jwksUri === undefined) {
    throw providerError(
      `the discovery document at ${url} lacks authorization_endpoint, token_endpoint or jwks_uri`,
    );
  }
  const methods = document.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    // RFC 7636 §4.2 / OAuth 2.1 §7.5.2: without S256 the code is not bound to this browser.
    throw providerError('the provider does not support PKCE with S256');
  }
  return {
    issuer: found,
    authorizationEndpoint,
    tokenEndpoint,
    jwksUri,
    userinfoEndpoint: stringField(document, 'userinfo_endpoint'),
    issParameterSupported: document.authorization_response_iss_parameter_supported === true,
    grantTypes: Array.isArray(document.grant_types_supported)
      ? document.grant_types_supported.filter((item): item is string => typeof item === 'string')
      : ['authorization_code', 'refresh_token'],
  };
}
