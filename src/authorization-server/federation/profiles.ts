import type { IdentityProviderConfig } from '../../config/schema.ts';
import type { GuardedFetch } from '../../net/index.ts';
import type { Claims } from './claim-rules.ts';
import { type ProviderMetadata, providerError } from './metadata.ts';

/**
 * Known quirks of well-known providers. Each profile says how its issuer is found, which issuer
 * a token may carry, what to add to the authorization request, and what to check or fetch
 * after the ID token (or, for GitHub, instead of one).
 */
export interface Profile {
  /** OpenID Connect (an ID token) or plain OAuth with the user from an API (GitHub). */
  readonly openid: boolean;
  /** Scopes requested when the configuration names none. */
  readonly defaultScopes: readonly string[];
  /** The issuer when the configuration gives none. */
  defaultIssuer(config: IdentityProviderConfig): string | undefined;
  /** Whether a discovery document's `issuer` is the configured one. */
  metadataIssuerMatches(configured: string, found: string): boolean;
  /** Whether an ID token's `iss` is acceptable for this metadata issuer. */
  tokenIssuerMatches(metadataIssuer: string, iss: string, claims: Claims): boolean;
  /** Metadata known without discovery. */
  staticMetadata?(issuer: string): ProviderMetadata;
  /** Extra authorization request parameters. */
  authorizationParameters(config: IdentityProviderConfig): Record<string, string>;
  /** Checks the claims after validation; may add claims (throws FederationNotPermitted-worthy errors). */
  checkClaims(config: IdentityProviderConfig, claims: Claims): Claims;
  /** For profiles without ID tokens: the person, from the provider's API. */
  fetchUser?(fetch: GuardedFetch, issuer: string, accessToken: string): Promise<Claims>;
}

const exact = (a: string, b: string) => a === b;

const generic: Profile = {
  openid: true,
  defaultScopes: ['openid', 'email', 'profile'],
  defaultIssuer: () => undefined,
  metadataIssuerMatches: exact,
  tokenIssuerMatches: (metadataIssuer, iss) => iss === metadataIssuer,
  authorizationParameters: () => ({}),
  checkClaims: (_config, claims) => claims,
};

/** Entra's multi-tenant endpoints publish a template issuer; a token names its tenant in `tid`. */
const ENTRA_TENANT_PLACEHOLDER = '{tenantid}';
const ENTRA_SHARED_TENANTS = ['common', 'organizations', 'consumers'];

const entra: Profile = {
  ...generic,
  // Microsoft identity platform v2.0 endpoints: the issuer is per tenant.
  defaultIssuer: (config) =>
    config.tenant === undefined
      ? undefined
      : `https://login.microsoftonline.com/${encodeURIComponent(config.tenant)}/v2.0`,
  metadataIssuerMatches: (configured, found) => {
    if (configured === found) return true;
    if (!found.includes(ENTRA_TENANT_PLACEHOLDER)) return false;
    return ENTRA_SHARED_TENANTS.some(
      (tenant) => found.replace(ENTRA_TENANT_PLACEHOLDER, tenant) === configured,
    );
  },
  tokenIssuerMatches: (metadataIssuer, iss, claims) => {
    if (!metadataIssuer.includes(ENTRA_TENANT_PLACEHOLDER)) return iss === metadataIssuer;
    const tid = claims.tid;
    return (
      typeof tid === 'string' &&
      /^[0-9a-f-]{36}$/i.test(tid) &&
      iss === metadataIssuer.replace(ENTRA_TENANT_PLACEHOLDER, tid)
    );
  },
  checkClaims: (config, claims) => {
    // Groups overage: with more groups than fit, Entra sends `_claim_names.groups` instead of
    // `groups`. A rule on groups would then silently not match; refuse with the fix instead.
    const names = claims._claim_names as Record<string, unknown> | undefined;
    const overage = claims.groups === undefined && names?.groups !== undefined;
    if (overage && config.claim_rules?.some((rule) => rule.claim === 'groups')) {
      throw providerError(
        'Entra ID left out the groups claim (groups overage: the person is in too many groups); in the app registration, emit only the groups assigned to the application',
      );
    }
    // Entra's `email` is whatever the account's mail attribute says, not proven to belong to
    // the person unless `xms_edov` (email domain owner verified) says so: without it, rules on
    // email must not match (the "nOAuth" account takeover).
    const unverifiedEmail = claims.email !== undefined && claims.xms_edov !== true;
    return {
      ...claims,
      ...(overage ? { groups_overage: true } : {}),
      ...(unverifiedEmail ? { email_verified: false } : {}),
    };
  },
};

const google: Profile = {
  ...generic,
  defaultIssuer: () => 'https://accounts.google.com',
  // Google documents both forms of its issuer in ID tokens.
  tokenIssuerMatches: (metadataIssuer, iss) =>
    iss === metadataIssuer ||
    (metadataIssuer === 'https://accounts.google.com' && iss === 'accounts.google.com'),
  // `hd` in the request only narrows the account chooser; the claim is what is checked.
  authorizationParameters: (config): Record<string, string> =>
    config.hosted_domain === undefined ? {} : { hd: config.hosted_domain },
  checkClaims: (config, claims) => {
    if (config.hosted_domain !== undefined && claims.hd !== config.hosted_domain) {
      throw providerError(
        `the Google account is not in the ${config.hosted_domain} domain (its hd claim is ${typeof claims.hd === 'string' ? claims.hd : 'absent'})`,
      );
    }
    return claims;
  },
};

/** Okta and Keycloak: issuers with a path (/oauth2/default, /realms/NAME); discovery appends. */
const okta: Profile = generic;
const keycloak: Profile = generic;

const GITHUB = 'https://github.com';

/** GitHub: OAuth 2.0 without OpenID Connect; the person comes from its REST API. */
const github: Profile = {
  ...generic,
  openid: false,
  // GitHub's scopes for reading the profile and the verified addresses.
  defaultScopes: ['read:user', 'user:email'],
  defaultIssuer: () => GITHUB,
  staticMetadata: (issuer) => {
    const origin = new URL(issuer).origin;
    return {
      issuer: origin,
      authorizationEndpoint: `${origin}/login/oauth/authorize`,
      tokenEndpoint: `${origin}/login/oauth/access_token`,
      jwksUri: undefined,
      userinfoEndpoint: origin === GITHUB ? 'https://api.github.com/user' : `${origin}/api/v3/user`,
      issParameterSupported: false,
      grantTypes: ['authorization_code', 'refresh_token'],
    };
  },
  async fetchUser(fetch, issuer, accessToken) {
    const metadata = github.staticMetadata?.(issuer);
    const url = metadata?.userinfoEndpoint ?? '';
    const response = await fetch(url, {
      headers: {
        authorization: `Bearer ${accessToken}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
      },
    }).catch((error: unknown) => {
      throw providerError('the GitHub user API cannot be reached', error);
    });
    if (!response.ok) throw providerError(`the GitHub user API answered ${response.status}`);
    const user = (await response.json().catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    // The numeric id is stable; the login can be renamed and then taken by someone else.
    if (user === undefined || typeof user.id !== 'number' || typeof user.login !== 'string') {
      throw providerError('the GitHub user API answered without a numeric id and a login');
    }
    return {
      ...user,
      sub: String(user.id),
      iss: new URL(issuer).origin,
      preferred_username: user.login,
    };
  },
};

export const PROFILES: Readonly<Record<IdentityProviderConfig['profile'], Profile>> = {
  generic,
  entra,
  google,
  okta,
  keycloak,
  github,
};
