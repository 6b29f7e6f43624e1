import type { LoadedConfig } from '../config/index.ts';
import { isLoopbackHost } from '../lib/host.ts';
import type { SigningAlgorithm } from './keys.ts';

/** Everything under this prefix belongs to the authorization server (config RESERVED_PATHS). */
export const OAUTH_PREFIX = '/oauth';

export const PATHS = {
  authorization: `${OAUTH_PREFIX}/authorize`,
  token: `${OAUTH_PREFIX}/token`,
  registration: `${OAUTH_PREFIX}/register`,
  revocation: `${OAUTH_PREFIX}/revoke`,
  introspection: `${OAUTH_PREFIX}/introspect`,
  jwks: `${OAUTH_PREFIX}/jwks`,
  login: `${OAUTH_PREFIX}/login`,
  consent: `${OAUTH_PREFIX}/consent`,
  account: `${OAUTH_PREFIX}/account`,
  /** RFC 8628 §3.1 device authorization endpoint, and §3.3 the page where the code is entered. */
  deviceAuthorization: `${OAUTH_PREFIX}/device_authorization`,
  device: `${OAUTH_PREFIX}/device`,
} as const;

/** Fixed lifetimes and limits (not configuration: these are the protocol's safe values). */
export const LIMITS = {
  /** Authorization codes live 60 s (RFC 6749 §4.1.2 recommends at most 10 minutes). */
  codeTtlMs: 60_000,
  /** Between /oauth/authorize and the consent decision. */
  interactionTtlMs: 10 * 60_000,
  /** A browser sign-in on the login page. */
  sessionTtlMs: 8 * 3600_000,
  formMaxBytes: 16 * 1024,
  registrationMaxBytes: 16 * 1024,
  /** Failed sign-ins before refusing, per user and per address, in the window. */
  loginFailuresPerUser: 5,
  loginFailuresPerAddress: 20,
  loginWindowMs: 15 * 60_000,
  /** Dynamic registrations per address per window, and in total. */
  registrationsPerAddress: 20,
  registrationWindowMs: 3600_000,
  maxDynamicClients: 10_000,
  /** A registered client never used within a day, or unused for 90 days, is removed. */
  neverUsedClientMs: 86_400_000,
  unusedClientMs: 90 * 86_400_000,
  purgeIntervalMs: 10 * 60_000,
  /** RFC 8628: a device code lives 10 minutes; the client polls every 5 s at first. */
  deviceCodeTtlMs: 10 * 60_000,
  devicePollIntervalS: 5,
  /** RFC 8628 §3.5: each slow_down adds 5 s. */
  deviceSlowDownS: 5,
} as const;

export interface Settings {
  readonly issuer: string;
  /** Absolute URLs of the endpoints, as published in the metadata. */
  readonly urls: { readonly [K in keyof typeof PATHS]: string };
  /** Paths where the metadata document is served (RFC 8414 §3.1 and OIDC Discovery §4). */
  readonly metadataPaths: readonly string[];
  readonly resources: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly refreshMaxLifetimeMs: number;
  readonly refreshGraceMs: number;
  readonly signingAlgorithm: SigningAlgorithm;
  readonly dynamicRegistration: 'open' | 'token' | 'off';
  readonly clientIdMetadataDocuments: boolean;
  readonly allowLoopbackUrls: boolean;
  /** Cookies get `Secure` and `__Host-` unless the issuer is plain-http loopback (development). */
  readonly secureCookies: boolean;
  readonly tokenIdHmacSecret: Buffer | undefined;
}

/**
 * RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path; OIDC
 * Discovery §4 appends it to the issuer instead. With a path-less issuer the two coincide.
 */
export function metadataPathsFor(issuer: string): string[] {
  const path = new URL(issuer).pathname.replace(/\/$/, '');
  if (path === '') {
    return ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];
  }
  return [
    `/.well-known/oauth-authorization-server${path}`,
    `/.well-known/openid-configuration${path}`,
    `${path}/.well-known/openid-configuration`,
  ];
}

export function settingsFrom(loaded: LoadedConfig): Settings {
  const issuer = loaded.derived.authorizationServerIssuer;
  if (issuer === undefined) {
    throw new Error('the authorization server is not enabled in this configuration');
  }
  const as = loaded.config.authorization_server;
  const origin = new URL(issuer).origin;
  const urls = Object.fromEntries(
    Object.entries(PATHS).map(([name, path]) => [name, `${origin}${path}`]),
  ) as unknown as Settings['urls'];
  const issuerUrl = new URL(issuer);
  return {
    issuer,
    urls,
    metadataPaths: metadataPathsFor(issuer),
    resources: loaded.derived.upstreams.map((upstream) => upstream.resource),
    allowedScopes: loaded.config.remote_mcp.allowed_scopes,
    accessTokenTtlMs: as.access_token_ttl_seconds * 1000,
    refreshTokenTtlMs: as.refresh_token_ttl_seconds * 1000,
    refreshMaxLifetimeMs: as.refresh_token_max_lifetime_seconds * 1000,
    refreshGraceMs: as.refresh_token_reuse_grace_seconds * 1000,
    signingAlgorithm: as.signing_algorithm,
    dynamicRegistration: as.dynamic_registration,
    clientIdMetadataDocuments: as.client_id_metadata_documents,
    allowLoopbackUrls: loaded.config.development.allow_loopback_urls,
    secureCookies: !(issuerUrl.protocol === 'http:' && isLoopbackHost(issuerUrl.hostname)),
    tokenIdHmacSecret: loaded.secrets.tokenIdHmacSecret,
  };
}
