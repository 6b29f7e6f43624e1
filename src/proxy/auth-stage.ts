import { RequestError } from '../errors/index.ts';
import type { AccessTokenVerifier, VerifiedToken } from '../resource-server/verifier.ts';

/**
 * The authentication stage of the gateway: who is calling, and with which scopes. Token
 * verification, the Authorization-header parser and the challenge builder come from the
 * token-verification work (src/resource-server); the gateway takes them as injected functions
 * so that it depends only on these types.
 */

/** Request headers, lower-cased, one value each (the HTTP front refuses duplicates). */
export type RequestHeaders = Readonly<Record<string, string | undefined>>;

/**
 * Reads the access token from the Authorization header, and from nowhere else (MCP
 * authorization, "Token Requirements"; RFC 6750 §2.1). Returns undefined when the request has no
 * Authorization header; throws RequestError `AuthInvalidRequest` when the header is malformed or
 * uses another scheme.
 */
export type ReadBearerToken = (headers: RequestHeaders) => string | undefined;

/** What a challenge is built from. */
export interface ChallengeRequest {
  /** The route's resource URI. */
  readonly resource: string;
  /** Its protected resource metadata URL (RFC 9728 §5.1 `resource_metadata`). */
  readonly resourceMetadataUrl: string;
  /** Why the request failed; its code says which RFC 6750 §3.1 error (if any) to name. */
  readonly error: RequestError;
  /** Scopes the request needs, for the `scope` parameter (all of them, MCP "Scope Challenge"). */
  readonly scopes: readonly string[];
}

/**
 * Builds the `WWW-Authenticate` value for an authentication or authorization failure, or
 * undefined when the failure carries none.
 */
export type BuildChallenge = (request: ChallengeRequest) => string | undefined;

/** Route facts the protected resource metadata document is built from. */
export interface MetadataRoute {
  readonly path: string;
  readonly resource: string;
  readonly scopes: readonly string[];
}

/** What `auth: oauth` needs. Supplied by the token-verification work. */
export interface TokenAuthentication {
  readonly verifier: AccessTokenVerifier;
  readonly readBearerToken: ReadBearerToken;
  readonly buildChallenge: BuildChallenge;
  /** The RFC 9728 document for a route; without it the well-known paths answer 404. */
  readonly protectedResourceMetadata?: (route: MetadataRoute) => Record<string, unknown>;
  /** Readiness: is the key set loaded? (May start loading it.) Absent: always ready. */
  readonly readiness?: () => { ok: boolean; detail: string };
}

/** Who is calling. */
export interface Principal {
  /** The token's `sub`, or `local` under `auth: none` and the stdio transport. */
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly scopes: ReadonlySet<string>;
  /** HMAC of the token id, for logs and audit; never the token. */
  readonly tokenIdHash: string | undefined;
}

export const LOCAL_SUBJECT = 'local';

export interface AuthStage {
  readonly mode: 'oauth' | 'none';
  /** Authenticates a request. Throws RequestError with an Auth* code. */
  authenticate(headers: RequestHeaders): Promise<Principal>;
  /** `WWW-Authenticate` for an error on a route, when one applies. */
  challenge(
    error: RequestError,
    route: { resource: string; resourceMetadataUrl: string },
  ): string | undefined;
}

/** Local trust (`auth: none` on loopback, or the stdio transport): every configured scope. */
export function localTrust(scopes: Iterable<string>): AuthStage {
  const principal: Principal = Object.freeze({
    subject: LOCAL_SUBJECT,
    clientId: undefined,
    scopes: new Set(scopes),
    tokenIdHash: undefined,
  });
  return {
    mode: 'none',
    authenticate: async () => principal,
    challenge: () => undefined,
  };
}

const CHALLENGED = new Set([
  'AuthTokenMissing',
  'AuthInvalidRequest',
  'AuthTokenInvalid',
  'AuthTokenExpired',
  'AuthTokenRevoked',
  'AuthInvalidIssuer',
  'AuthInvalidAudience',
  'AuthMissingScope',
  'AuthUnavailable',
]);

/** Bearer-token authentication on every request (POST, GET and DELETE alike). */
export function tokenAuthentication(auth: TokenAuthentication): AuthStage {
  return {
    mode: 'oauth',
    async authenticate(headers) {
      const token = auth.readBearerToken(headers);
      if (token === undefined) {
        throw new RequestError('AuthTokenMissing', 'this resource needs a bearer token');
      }
      let verified: VerifiedToken;
      try {
        verified = await auth.verifier.verify(token);
      } catch (error) {
        if (error instanceof RequestError) throw error;
        // Fail closed: a verifier that breaks its contract denies, it never lets through.
        throw new RequestError('AuthUnavailable', 'the token could not be verified', {
          cause: error,
        });
      }
      return {
        subject: verified.subject,
        clientId: verified.clientId,
        scopes: new Set(verified.scopes),
        tokenIdHash: verified.tokenIdHash,
      };
    },
    challenge(error, route) {
      if (!CHALLENGED.has(error.code)) return undefined;
      const scope = error.details.scope;
      return auth.buildChallenge({
        resource: route.resource,
        resourceMetadataUrl: route.resourceMetadataUrl,
        error,
        scopes: scope === undefined ? [] : [scope],
      });
    },
  };
}
