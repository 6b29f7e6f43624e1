import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import { formatChallenge } from '../errors/render.ts';
import {
  type AccessTokenVerifier,
  bearerChallenge,
  buildProtectedResourceMetadata,
  challengeOptionsFor,
  extractBearerToken,
  type KeySource,
  type VerifiedToken,
} from '../resource-server/index.ts';

/**
 * The authentication stage of the gateway: who is calling, and with which scopes. Built once by
 * the assembler (src/assembly) from the configuration and a verifier; the gateway only calls it.
 */

/** Request headers, lower-cased, one value each (the HTTP front refuses duplicates). */
export type RequestHeaders = Readonly<Record<string, string | undefined>>;

/** Route facts the protected resource metadata document is built from. */
export interface MetadataRoute {
  readonly path: string;
  readonly resource: string;
  readonly scopes: readonly string[];
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
  /** The RFC 9728 document for a route; absent: the well-known paths answer 404. */
  readonly protectedResourceMetadata?: (route: MetadataRoute) => Record<string, unknown>;
  /** Readiness: is the key set loaded? (May start loading it.) Absent: always ready. */
  readonly readiness?: () => { ok: boolean; detail: string };
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

/** Errors answered with a Bearer challenge (RFC 6750 §3); the others carry none. */
export const CHALLENGED_CODES: ReadonlySet<string> = new Set([
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

/** A verifier, and when it verifies JWTs, where its keys come from (for readiness). */
export type StageVerifier = AccessTokenVerifier & {
  readonly keySource?: KeySource | undefined;
  warm?(): Promise<void>;
};

/**
 * Verifies a token, failing closed: a verifier that breaks its contract (throws anything but a
 * RequestError) denies with 503 AuthUnavailable, it never lets the request through.
 */
/**
 * One Principal per verified token: a verifier's cache hands out the same VerifiedToken for the
 * same token, so the caller it describes is built once, not on every request.
 */
const principals = new WeakMap<VerifiedToken, Principal>();

export async function verifyClosed(
  verifier: AccessTokenVerifier,
  token: string,
): Promise<Principal> {
  let verified: VerifiedToken;
  try {
    verified = await verifier.verify(token);
  } catch (error) {
    if (error instanceof RequestError) throw error;
    throw new RequestError('AuthUnavailable', 'the token could not be verified', {
      cause: error,
    });
  }
  let principal = principals.get(verified);
  if (principal === undefined) {
    principal = Object.freeze({
      subject: verified.subject,
      clientId: verified.clientId,
      scopes: new Set(verified.scopes),
      tokenIdHash: verified.tokenIdHash,
    });
    principals.set(verified, principal);
  }
  return principal;
}

/**
 * Bearer-token authentication for `auth: oauth`, on every request (POST, GET and DELETE alike):
 * the token from the Authorization header only (RFC 6750 §2.1; MCP authorization, "Token
 * Requirements"), verified by `verifier`; failures challenged per RFC 6750 §3 with the
 * route's metadata URL (RFC 9728 §5.1); the RFC 9728 §2 document per route.
 */
export function bearerAuthentication(loaded: LoadedConfig, verifier: StageVerifier): AuthStage {
  const upstreamIndexOf = (resource: string) =>
    Math.max(
      0,
      loaded.derived.upstreams.findIndex((upstream) => upstream.resource === resource),
    );
  return {
    mode: 'oauth',
    async authenticate(headers) {
      const value = headers.authorization;
      if (value === undefined) {
        throw new RequestError('AuthTokenMissing', 'this resource needs a bearer token');
      }
      return verifyClosed(verifier, extractBearerToken(value));
    },
    challenge(error, route) {
      if (!CHALLENGED_CODES.has(error.code)) return undefined;
      // A 401 suggests the resource's scopes; a 403 names the scope the call needs (MCP
      // "Scope Challenge Handling").
      const defaults = challengeOptionsFor(loaded, upstreamIndexOf(route.resource));
      const scope = error.details.scope;
      const challenge = bearerChallenge(error, {
        resourceMetadataUrl: route.resourceMetadataUrl,
        scope: scope !== undefined ? [scope] : (defaults.scope ?? []),
      });
      return challenge === undefined ? undefined : formatChallenge(challenge);
    },
    readiness() {
      const keys = verifier.keySource;
      if (keys === undefined) return { ok: true, detail: 'introspection' };
      if (keys.snapshot() !== undefined) return { ok: true, detail: 'loaded' };
      // Not loaded yet (the issuer was down at start, say): try again in the background; the
      // key source spaces out attempts, so frequent probes do not become a fetch flood.
      verifier.warm?.().catch(() => {});
      return { ok: false, detail: 'key set not loaded' };
    },
    // scopes_supported comes from the one route-scope derivation (src/lib/route-scopes.ts), the
    // same list the route's policy requires and a 401 challenge suggests.
    protectedResourceMetadata(route) {
      return { ...buildProtectedResourceMetadata(loaded, upstreamIndexOf(route.resource)) };
    },
  };
}
