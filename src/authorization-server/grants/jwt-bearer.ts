import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import { JWT_BEARER_GRANT } from '../../config/index.ts';
import { RequestError } from '../../errors/index.ts';
import type { GrantRecord } from '../../store/index.ts';
import { type Params, required } from '../checks/parameters.ts';
import { checkResource } from '../checks/resource.ts';
import { parseScope } from '../checks/scope.ts';
import type { Client } from '../clients/client.ts';
import { randomToken } from '../crypto.ts';
import { bindingFor, type TokenExchange } from '../dpop-binding.ts';
import { federatedSubject } from '../federation/subject.ts';
import { audit, type Services } from '../services.ts';
import { mintAccessToken, tokenIdHash, tokenResponseText } from '../tokens.ts';
import type { IssuerKeys, TrustedProvider } from '../trusted-issuers.ts';

/*
 * The JWT bearer grant (RFC 7523 §2.1) for assertions from trusted identity providers:
 * identity assertion JWT authorization grants (ID-JAG, draft-ietf-oauth-identity-assertion-authz-
 * grant; the MCP enterprise-managed authorization extension) and workload identity JWTs (the MCP
 * workload identity federation extension). Every failure of the assertion is invalid_grant
 * (RFC 7523 §3.1) and issues nothing.
 */

export { JWT_BEARER_GRANT };
/** The grant profile advertised in `authorization_grant_profiles_supported`. */
export const ID_JAG_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';
const ID_JAG_TYP = /^(application\/)?oauth-id-jag\+jwt$/i;
const PLAIN_JWT_TYP = /^(application\/)?jwt$/i;
const MAX_ASSERTION_LENGTH = 16 * 1024;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** What the grant needs, built once per server (server.ts). */
export interface AssertionGrant {
  readonly providers: readonly TrustedProvider[];
  /** `authorization_grant_profiles_supported` values. */
  readonly profiles: readonly string[];
  readonly keys: IssuerKeys;
  /** Where used `jti`s are kept until the assertion expires (RFC 7523 §3 item 7). */
  readonly replay: {
    remember(key: string, untilMs: number, nowMs: number): Promise<boolean>;
  };
  readonly skewSeconds: number;
}

const invalidGrant = (message: string, cause?: unknown) =>
  new RequestError('OAuthInvalidGrant', message, cause === undefined ? {} : { cause });

function unverifiedIssuer(assertion: string): { iss: string; typ: unknown } {
  try {
    const header = decodeProtectedHeader(assertion);
    const { iss } = decodeJwt(assertion);
    if (typeof iss !== 'string') throw new Error('no iss');
    return { iss, typ: header.typ };
  } catch (cause) {
    throw invalidGrant('the assertion is not a JWT with an issuer', cause);
  }
}

async function verifySignatureAndClaims(
  services: Services,
  grant: AssertionGrant,
  provider: TrustedProvider,
  assertion: string,
): Promise<JWTPayload> {
  const options = {
    issuer: provider.issuer,
    // RFC 7523 §3 item 3: our issuer identifies us; the token endpoint URL may be used as well.
    audience: [services.settings.issuer, services.settings.urls.token],
    algorithms: [...provider.algorithms],
    clockTolerance: grant.skewSeconds,
    currentDate: new Date(services.now()),
    requiredClaims: ['exp', 'iat', 'jti', 'sub'],
  };
  try {
    return (await jwtVerify(assertion, await grant.keys.resolver(provider), options)).payload;
  } catch (error) {
    // A key we have not seen yet: the provider may have rotated; fetch again, once.
    if (error instanceof errors.JWKSNoMatchingKey && (await grant.keys.refresh(provider))) {
      try {
        return (await jwtVerify(assertion, await grant.keys.resolver(provider), options)).payload;
      } catch (retry) {
        throw invalidGrant('the assertion does not verify', retry);
      }
    }
    if (error instanceof RequestError) throw error;
    throw invalidGrant(
      error instanceof errors.JWTExpired
        ? 'the assertion has expired'
        : error instanceof errors.JWTClaimValidationFailed
          ? `the assertion's "${error.claim}" claim is not acceptable`
          : 'the assertion does not verify',
      error,
    );
  }
}

function checkRequiredClaims(provider: TrustedProvider, claims: JWTPayload): void {
  for (const [claim, accepted] of provider.requiredClaims) {
    const value = claims[claim];
    if (typeof value !== 'string' || !accepted.includes(value)) {
      throw invalidGrant(`the assertion's "${claim}" claim does not satisfy this provider's rules`);
    }
  }
}

/** ID-JAG: `client_id` names the client redeeming it; `resource` names one of our resources. */
function checkIdJag(services: Services, client: Client, claims: JWTPayload, form: Params): string {
  if (claims.client_id !== client.clientId) {
    throw invalidGrant('the assertion was issued for another client');
  }
  const asserted = claims.resource;
  const resource =
    typeof asserted === 'string'
      ? asserted
      : Array.isArray(asserted) && asserted.length === 1 && typeof asserted[0] === 'string'
        ? asserted[0]
        : undefined;
  if (resource === undefined || !services.settings.resources.includes(resource)) {
    throw invalidGrant('the assertion is not for a resource this server protects');
  }
  const requested = form.get('resource');
  if (requested !== undefined && requested !== resource) {
    throw invalidGrant('the resource parameter differs from the assertion');
  }
  return resource;
}

/**
 * requested ∩ asserted ∩ allowed. Requesting nothing means whatever the assertion and this server
 * allow; an assertion without a `scope` claim (a workload JWT) does not narrow.
 */
function grantedScopes(
  requested: readonly string[] | undefined,
  asserted: unknown,
  allowed: readonly string[],
): string[] {
  const assertedList =
    typeof asserted === 'string'
      ? asserted.split(' ').filter((scope) => scope !== '')
      : asserted === undefined
        ? undefined
        : [];
  const base = requested ?? assertedList ?? allowed;
  const granted = [...new Set(base)].filter(
    (scope) =>
      allowed.includes(scope) && (assertedList === undefined || assertedList.includes(scope)),
  );
  if (requested !== undefined && requested.length > 0 && granted.length === 0) {
    throw new RequestError('OAuthInvalidScope', 'none of the requested scopes can be granted');
  }
  return granted;
}

export async function jwtBearer(
  exchange: TokenExchange,
  client: Client,
  form: Params,
): Promise<string> {
  const { services } = exchange;
  const grant = services.assertions;
  if (grant === undefined) {
    throw new RequestError('OAuthUnsupportedGrantType', 'no identity provider is trusted');
  }
  const assertion = required(form, 'assertion');
  if (assertion.length > MAX_ASSERTION_LENGTH || !JWS_SHAPE.test(assertion)) {
    throw invalidGrant('the assertion is not a compact JWS');
  }
  const { iss, typ } = unverifiedIssuer(assertion);
  const provider = grant.providers.find((candidate) => candidate.issuer === iss);
  if (provider === undefined) throw invalidGrant('the assertion comes from an untrusted issuer');
  if (!provider.allowedClients.has(client.clientId)) {
    throw new RequestError(
      'OAuthUnauthorizedClient',
      "this client may not redeem this provider's assertions",
    );
  }
  // RFC 8725 §3.11: explicit typing keeps an ID token or access token from passing as an ID-JAG.
  const typed =
    provider.kind === 'id-jag'
      ? typeof typ === 'string' && ID_JAG_TYP.test(typ)
      : typ === undefined || (typeof typ === 'string' && PLAIN_JWT_TYP.test(typ));
  if (!typed) throw invalidGrant('the assertion type (typ) is not accepted');

  const claims = await verifySignatureAndClaims(services, grant, provider, assertion);
  const now = services.now();
  const exp = claims.exp as number;
  if (exp * 1000 - now > (provider.maxLifetimeSeconds + grant.skewSeconds) * 1000) {
    throw invalidGrant('the assertion expires further ahead than accepted');
  }
  checkRequiredClaims(provider, claims);
  const resource =
    provider.kind === 'id-jag'
      ? checkIdJag(services, client, claims, form)
      : checkResource(form.get('resource'), services.settings.resources);
  const allowed = provider.scopes.filter((scope) => client.scopes.includes(scope));
  const scopes = grantedScopes(parseScope(form.get('scope')), claims.scope, allowed);
  const boundKey = bindingFor(services, resource, exchange.dpopJkt);

  // Last, so that only an otherwise valid assertion uses up its jti.
  const first = await grant.replay.remember(
    `${iss} ${claims.jti as string}`,
    (exp + grant.skewSeconds) * 1000,
    now,
  );
  if (!first) throw invalidGrant('the assertion was already used (jti)');

  const record: GrantRecord = {
    grantId: randomToken(16),
    kind: 'jwt_bearer',
    subject: federatedSubject(iss, claims.sub as string),
    clientId: client.clientId,
    resource,
    scopes,
    createdAt: now,
    expiresAt: now + services.settings.accessTokenTtlMs,
    revokedAt: undefined,
  };
  await services.store.putGrant(record);
  const access = await mintAccessToken(services, record, scopes, now, boundKey);
  await services.store.putAccessToken(access.record);
  audit(exchange, {
    event: 'oauth.token.issued',
    decision: 'allow',
    grant_type: JWT_BEARER_GRANT,
    subject: record.subject,
    client_id: client.clientId,
    resource,
    granted_scopes: scopes,
    token_id_hash: tokenIdHash(services, access.record.jti),
    sender_constraint: boundKey === undefined ? 'bearer' : 'dpop',
  });
  return tokenResponseText(access, scopes, undefined);
}
