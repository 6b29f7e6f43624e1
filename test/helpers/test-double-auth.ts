import { randomBytes } from 'node:crypto';
import { RequestError } from '../../src/errors/index.ts';
import {
  type AuthStage,
  CHALLENGED_CODES,
  type RequestHeaders,
  verifyClosed,
} from '../../src/proxy/index.ts';
import type { AccessTokenVerifier, VerifiedToken } from '../../src/resource-server/verifier.ts';

/**
 * TEST DOUBLES for the token-verification contract (src/resource-server/verifier.ts). They let
 * the gateway's authorization policy be tested before the real verifier is wired in: tokens are
 * random strings this double issued itself, mapped to the VerifiedToken it returns. Nothing here
 * verifies a JWT, and nothing here is used outside tests.
 */
export class TestDoubleVerifier implements AccessTokenVerifier {
  readonly #tokens = new Map<string, VerifiedToken>();
  /** Every token presented, in order. */
  readonly presented: string[] = [];

  /** Issues an opaque test token for a subject with these scopes. */
  issue(subject: string, scopes: readonly string[], clientId = 'test-client'): string {
    const token = `test-double.${randomBytes(16).toString('base64url')}`;
    this.#tokens.set(token, {
      subject,
      clientId,
      scopes,
      audience: 'https://gateway.test/mcp',
      expiresAt: Math.floor(Date.now() / 1000) + 300,
      tokenIdHash: randomBytes(8).toString('hex'),
      claims: { sub: subject, scope: scopes.join(' ') },
    });
    return token;
  }

  async verify(token: string): Promise<VerifiedToken> {
    this.presented.push(token);
    const verified = this.#tokens.get(token);
    if (verified === undefined) throw new RequestError('AuthTokenInvalid', 'unknown test token');
    return verified;
  }
}

/** Test double of the Authorization-header parser: `Bearer <token>` only. */
export const testDoubleReadBearerToken = (headers: RequestHeaders): string | undefined => {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(value);
  if (match?.[1] === undefined) {
    throw new RequestError('AuthInvalidRequest', 'malformed Authorization header');
  }
  return match[1];
};

/** Test double of the challenge builder (RFC 6750 §3 shape, enough to assert on). */
export const testDoubleChallenge = ({
  resourceMetadataUrl,
  error,
  scopes,
}: {
  resourceMetadataUrl: string;
  error: RequestError;
  scopes: readonly string[];
}): string => {
  const parts = [`resource_metadata="${resourceMetadataUrl}"`];
  const oauth =
    error.code === 'AuthMissingScope'
      ? 'insufficient_scope'
      : error.code === 'AuthInvalidRequest'
        ? 'invalid_request'
        : error.code === 'AuthTokenMissing'
          ? undefined
          : 'invalid_token';
  if (oauth !== undefined) parts.unshift(`error="${oauth}"`);
  if (scopes.length > 0) parts.push(`scope="${scopes.join(' ')}"`);
  return `Bearer ${parts.join(', ')}`;
};

/**
 * The gateway's authentication stage with the doubles above in place of the real header parser
 * and challenge builder; verification fails closed like the real stage (verifyClosed).
 */
export function testDoubleAuth(verifier: TestDoubleVerifier): AuthStage {
  return {
    mode: 'oauth',
    async authenticate(headers) {
      const token = testDoubleReadBearerToken(headers);
      if (token === undefined) {
        throw new RequestError('AuthTokenMissing', 'this resource needs a bearer token');
      }
      return verifyClosed(verifier, token);
    },
    challenge(error, route) {
      if (!CHALLENGED_CODES.has(error.code)) return undefined;
      const scope = error.details.scope;
      return testDoubleChallenge({
        resourceMetadataUrl: route.resourceMetadataUrl,
        error,
        scopes: scope === undefined ? [] : [scope],
      });
    },
    protectedResourceMetadata: (route) => ({
      resource: route.resource,
      authorization_servers: ['https://issuer.test/'],
      bearer_methods_supported: ['header'],
      scopes_supported: route.scopes,
    }),
  };
}
