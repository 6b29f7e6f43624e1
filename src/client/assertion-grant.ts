import { readFile } from 'node:fs/promises';
import {
  type DpopSession,
  type FetchLike,
  fetchToken,
  type OAuthClientProvider,
  OAuthError,
  type OAuthTokens,
  requestJwtAuthorizationGrant,
} from '@modelcontextprotocol/client';
import { ClientError, isRequestError } from '../errors/index.ts';
import { isLoopbackHost } from '../lib/host.ts';
import { type Discovery, discoverAuthorizationServer } from './discovery.ts';
import type { GuardedFetch, StoredClient } from './types.ts';

/*
 * Logging in with an assertion instead of a browser (RFC 7523 §2.1 JWT bearer grant):
 * - enterprise-managed authorization: the person's ID token at the enterprise identity provider
 *   is exchanged there (RFC 8693) for an identity assertion JWT authorization grant (ID-JAG),
 *   which the MCP server's authorization server redeems;
 * - workload identity federation: a workload JWT (for example a SPIFFE JWT-SVID) read from a
 *   file (`--assertion-file`) is redeemed directly.
 * A refused assertion is final: no retry, no other grant (the authorization server has decided).
 */

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_ASSERTION_BYTES = 16 * 1024;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface AssertionGrantContext {
  readonly discovery: Discovery;
  readonly client: StoredClient;
  readonly fetch: GuardedFetch;
  /** When set, the token request carries a proof and the token comes back DPoP-bound. */
  readonly dpop?: DpopSession | undefined;
}

/** Reads a workload token file: one compact JWT, surrounding whitespace ignored. */
export async function readAssertionFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ClientError('ClientTokenRequestFailed', `cannot read the assertion file ${path}`, {
      fix: 'point --assertion-file at the file your workload identity agent writes',
      cause,
    });
  }
  const assertion = text.trim();
  if (Buffer.byteLength(assertion) > MAX_ASSERTION_BYTES || !JWS_SHAPE.test(assertion)) {
    throw new ClientError('ClientTokenRequestFailed', `${path} does not hold one compact JWT`, {
      fix: 'the file must contain only the workload JWT (header.payload.signature)',
    });
  }
  return assertion;
}

/**
 * Redeems an assertion at the token endpoint (RFC 7523 §2.1) for the server's resource, through
 * the SDK's token request (client authentication chosen from the metadata, DPoP proof and nonce
 * retry when a session is given).
 */
export async function redeemAssertion(
  context: AssertionGrantContext,
  assertion: string,
  scope: string | undefined,
): Promise<OAuthTokens> {
  const { client, discovery } = context;
  const info = {
    client_id: client.client_id,
    issuer: discovery.issuer,
    ...(client.client_secret === undefined ? {} : { client_secret: client.client_secret }),
    ...(client.token_endpoint_auth_method === undefined
      ? {}
      : { token_endpoint_auth_method: client.token_endpoint_auth_method }),
  };
  const provider: OAuthClientProvider = {
    redirectUrl: undefined,
    clientMetadata: { redirect_uris: [], grant_types: [JWT_BEARER_GRANT] },
    clientInformation: () => info,
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: () => {
      throw new Error('the JWT bearer grant has no authorization step');
    },
    saveCodeVerifier: () => undefined,
    codeVerifier: () => {
      throw new Error('the JWT bearer grant has no code verifier');
    },
    prepareTokenRequest: () => {
      const params = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion });
      if (scope) params.set('scope', scope);
      return params;
    },
    ...(context.dpop === undefined ? {} : { dpop: () => context.dpop }),
  };
  try {
    return await fetchToken(provider, discovery.issuer, {
      metadata: discovery.metadata as never,
      resource: discovery.resource,
      fetchFn: context.fetch as FetchLike,
    });
  } catch (error) {
    throw wrap('JWT bearer grant', discovery.issuer, error);
  }
}

export interface IdJagRequest {
  /** The enterprise identity provider's token endpoint; else discovered from `idpIssuer`. */
  readonly idpTokenEndpoint?: string;
  readonly idpIssuer?: string;
  /** The person's ID token at that provider. */
  readonly idToken: string;
  readonly idpClientId: string;
  readonly idpClientSecret?: string;
  /** The MCP server's authorization server (the ID-JAG's audience). */
  readonly audience: string;
  /** The MCP server's resource. */
  readonly resource: string;
  readonly scope?: string;
  readonly fetch: GuardedFetch;
}

/**
 * An identity provider URL the ID token may travel towards: https, or plain http to this machine
 * (development), as the SDK's token requests require; no credentials, query or fragment
 * (an issuer has none, RFC 8414 §2). Checked before anything is sent.
 */
function checkIdpUrl(what: string, value: string): string {
  const refuse = (why: string) =>
    new ClientError(
      'ClientDiscoveryFailed',
      `${what} ${JSON.stringify(value)} is refused: ${why}`,
      {
        fix: 'give the identity provider as an https URL (http only to localhost or 127.0.0.1)',
      },
    );
  if (!URL.canParse(value)) throw refuse('it is not an absolute URL');
  const url = new URL(value);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw refuse('it is neither https nor http to a loopback host');
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw refuse('it carries credentials, a query or a fragment');
  }
  return value;
}

/**
 * The identity provider's token endpoint from its metadata (RFC 8414 §3, OpenID Connect
 * Discovery §4), fetched through the guarded fetch: the metadata must name exactly the issuer it
 * was asked for (RFC 8414 §3.3) and a token endpoint that passes the same URL rule.
 */
async function discoverIdpTokenEndpoint(issuer: string, fetch: GuardedFetch): Promise<string> {
  checkIdpUrl('the identity provider issuer', issuer);
  const metadata = await discoverAuthorizationServer(fetch, issuer, {
    allowLoopbackHttp: new URL(issuer).protocol === 'http:',
  });
  if (metadata === undefined) {
    throw new ClientError(
      'ClientDiscoveryFailed',
      `the identity provider ${issuer} publishes no authorization server or OpenID metadata`,
      { fix: 'give its token endpoint with --idp-token-endpoint instead' },
    );
  }
  return checkIdpUrl('the identity provider token endpoint', metadata.token_endpoint);
}

/** RFC 8693 token exchange at the enterprise identity provider: ID token → ID-JAG. */
export async function obtainIdJag(request: IdJagRequest): Promise<string> {
  if (request.idpTokenEndpoint === undefined && request.idpIssuer === undefined) {
    throw new ClientError('ClientTokenRequestFailed', 'no identity provider to ask for an ID-JAG', {
      fix: 'give the identity provider issuer or token endpoint',
    });
  }
  const tokenEndpoint =
    request.idpTokenEndpoint ??
    (await discoverIdpTokenEndpoint(request.idpIssuer as string, request.fetch));
  const common = {
    audience: request.audience,
    resource: request.resource,
    idToken: request.idToken,
    clientId: request.idpClientId,
    ...(request.idpClientSecret === undefined ? {} : { clientSecret: request.idpClientSecret }),
    ...(request.scope ? { scope: request.scope } : {}),
    fetchFn: request.fetch as FetchLike,
  };
  try {
    return (await requestJwtAuthorizationGrant({ ...common, tokenEndpoint })).jwtAuthGrant;
  } catch (error) {
    throw wrap('token exchange for an ID-JAG', tokenEndpoint, error);
  }
}

function wrap(what: string, where: string, error: unknown): Error {
  if (error instanceof ClientError || isRequestError(error)) return error;
  const printable = (text: string) => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
  if (error instanceof OAuthError) {
    return new ClientError(
      'ClientTokenRequestFailed',
      `${what} at ${where} failed: ${error.code}${error.message ? ` (${printable(error.message)})` : ''}`,
      { cause: error },
    );
  }
  return new ClientError(
    'ClientTokenRequestFailed',
    `${what} at ${where} failed: ${printable(error instanceof Error ? error.message : String(error))}`,
    { cause: error },
  );
}
