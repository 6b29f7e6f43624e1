import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import { formatChallenge } from '../errors/render.ts';
import {
  type AccessTokenVerifier,
  authenticateRequest,
  buildProtectedResourceMetadata,
  type ConfiguredDpop,
  challengeOptionsFor,
  extractAccessToken,
  extractBearerToken,
  type KeySource,
  resourceChallenges,
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
  /** The token's `aud` values; undefined under local trust. */
  readonly audiences?: readonly string[];
  /** The token's `exp`, in seconds; undefined under local trust. */
  readonly expiresAt?: number;
  /**
   * Verifies the same token again (revocation, a disabled client); false only on a definite
   * refusal, true while verification is merely unavailable. Streams held open use it
   * (stream-leases.ts).
   */
  readonly stillValid?: () => Promise<boolean>;
  /** True when the token is DPoP-bound and this request carried its proof (RFC 9449). */
  readonly senderConstrained?: boolean;
}

/** What the authentication stage needs of the route a request is for. */
export interface AudienceRoute {
  readonly acceptedAudiences: readonly string[];
}

/** The request line facts authentication needs besides headers (DPoP proofs name them). */
export interface AuthenticationRequest {
  /** HTTP method as sent. */
  readonly method: string;
  /**
   * The route asked for: its upstream name (DPoP mode), path (with the public origin, `htu`)
   * and the audiences it accepts (the token must name one of them).
   */
  readonly route: {
    readonly name: string;
    readonly path: string;
    readonly acceptedAudiences: readonly string[];
  };
}

export const LOCAL_SUBJECT = 'local';

export interface AuthStage {
  readonly mode: 'oauth' | 'none';
  /**
   * Authenticates a request. Throws RequestError with an Auth* code. With the route's accepted
   * audiences, the token must name the route's resource, or an audience the route was widened
   * to. Without `request`, the route is taken to accept no DPoP (bearer only, bound tokens
   * refused).
   */
  authenticate(headers: RequestHeaders, request: AuthenticationRequest): Promise<Principal>;
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
  'AuthDpopProofInvalid',
  'AuthDpopNonceRequired',
]);

/** A verifier, and when it verifies JWTs, where its keys come from (for readiness). */
export type StageVerifier = AccessTokenVerifier & {
  readonly keySource?: KeySource | undefined;
  warm?(): Promise<void>;
};

/**
 * One Principal per verified token: a verifier's cache hands out the same VerifiedToken for the
 * same token, so the caller it describes is built once, not on every request.
 */
const principals = new WeakMap<VerifiedToken, CachedPrincipals>();

/**
 * Verifies a token, failing closed: a verifier that breaks its contract (throws anything but a
 * RequestError) denies with 503 AuthUnavailable, it never lets the request through.
 */
export async function verifyClosed(
  verifier: AccessTokenVerifier,
  token: string,
): Promise<Principal> {
  const verified = await verifyTokenClosed(verifier, token);
  // A bound token reaches here only where the verifier refuses bound tokens without a proof,
  // or through the DPoP presentation below, so a bound key means a checked proof.
  return principalOf(verified, verifier, token, verified.boundKey !== undefined);
}

async function verifyTokenClosed(
  verifier: AccessTokenVerifier,
  token: string,
): Promise<VerifiedToken> {
  try {
    return await verifier.verify(token);
  } catch (error) {
    throw closedRefusal(error);
  }
}

/** What a verifier's failure is answered with: its own refusal, or 503 AuthUnavailable. */
function closedRefusal(error: unknown): RequestError {
  if (error instanceof RequestError) return error;
  return new RequestError('AuthUnavailable', 'the token could not be verified', { cause: error });
}

/** The callers one verified token describes: without and with a checked proof (RFC 9449). */
interface CachedPrincipals {
  readonly token: string;
  readonly plain: Principal;
  constrained?: Principal;
}

/**
 * The caller a verified token describes, built once per verified token (a verifier's cache hands
 * out the same VerifiedToken for the same token) and only reused for that same token string,
 * since `stillValid` verifies that token again (stream-leases.ts). `senderConstrained` is a fact
 * of the request — this request carried a proof matching the token's key (RFC 9449 §7) — so it
 * picks between two frozen variants rather than being stored once for every request.
 */
function principalOf(
  verified: VerifiedToken,
  verifier: AccessTokenVerifier,
  token: string,
  senderConstrained: boolean,
): Principal {
  let cached = principals.get(verified);
  if (cached === undefined || cached.token !== token) {
    const aud = verified.claims.aud;
    cached = {
      token,
      plain: Object.freeze({
        subject: verified.subject,
        clientId: verified.clientId,
        scopes: new Set(verified.scopes),
        tokenIdHash: verified.tokenIdHash,
        audiences: (typeof aud === 'string'
          ? [aud]
          : Array.isArray(aud)
            ? aud
            : [verified.audience]
        ).filter((entry): entry is string => typeof entry === 'string'),
        expiresAt: verified.expiresAt,
        stillValid: () =>
          verifier.verify(token).then(
            () => true,
            (error: unknown) => error instanceof RequestError && error.code === 'AuthUnavailable',
          ),
      }),
    };
    principals.set(verified, cached);
  }
  if (!senderConstrained) return cached.plain;
  cached.constrained ??= Object.freeze({ ...cached.plain, senderConstrained: true });
  return cached.constrained;
}

/**
 * A token is accepted only at the route(s) whose resource it names (MCP authorization, "Token
 * Audience Binding": a server must only accept tokens issued for itself; RFC 8707 §2). The
 * verifier checks `aud` against every configured audience; this narrows it to the route called.
 */
export function checkRouteAudience(principal: Principal, route: AudienceRoute): void {
  if (principal.audiences?.some((audience) => route.acceptedAudiences.includes(audience))) return;
  throw new RequestError('AuthInvalidAudience', 'the token was issued for another resource', {
    expose: true,
  });
}

/**
 * Bearer-token authentication for `auth: oauth`, on every request (POST, GET and DELETE alike):
 * the token from the Authorization header only (RFC 6750 §2.1; MCP authorization, "Token
 * Requirements"), verified by `verifier`; failures challenged per RFC 6750 §3 with the
 * route's metadata URL (RFC 9728 §5.1); the RFC 9728 §2 document per route.
 */
export function bearerAuthentication(
  loaded: LoadedConfig,
  verifier: StageVerifier,
  dpop?: ConfiguredDpop,
): AuthStage {
  const upstreamIndexOf = (resource: string) =>
    Math.max(
      0,
      loaded.derived.upstreams.findIndex((upstream) => upstream.resource === resource),
    );
  const closed: AccessTokenVerifier = { verify: (token) => verifyTokenClosed(verifier, token) };
  const publicUrl = loaded.derived.publicUrl ?? '';
  return {
    mode: 'oauth',
    async authenticate(headers, request) {
      // Every request is for one route, and its token must name that route's resource (or an
      // audience the route was deliberately widened to): checkRouteAudience on either path.
      // Without DPoP anywhere, the verifier itself refuses every bound token.
      if (dpop === undefined || !dpop.enabled) {
        const value = headers.authorization;
        if (value === undefined) {
          throw new RequestError('AuthTokenMissing', 'this resource needs a bearer token');
        }
        const token = extractBearerToken(value);
        // verifyClosed, inline: one await per request rather than a chain of async calls.
        let verified: VerifiedToken;
        try {
          verified = await verifier.verify(token);
        } catch (error) {
          throw closedRefusal(error);
        }
        const principal = principalOf(verified, verifier, token, verified.boundKey !== undefined);
        checkRouteAudience(principal, request.route);
        return principal;
      }
      // RFC 9449 §7: the scheme, the proof and the binding, per the route's mode; on a route
      // with DPoP off a bound token is refused, never taken as bearer.
      const access = await authenticateRequest(
        {
          authorization: headers.authorization,
          dpop: headers.dpop,
          method: request.method,
          url: `${publicUrl}${request.route.path}`,
        },
        {
          mode: dpop.modeOf(request.route.name),
          verifier: closed,
          proofs: dpop.resourceProofs,
        },
      );
      const token = extractAccessToken(headers.authorization, 'allowed').token;
      const principal = principalOf(access.token, verifier, token, access.senderConstrained);
      checkRouteAudience(principal, request.route);
      return principal;
    },
    challenge(error, route) {
      if (!CHALLENGED_CODES.has(error.code)) return undefined;
      // A 401 suggests the resource's scopes; a 403 names the scope the call needs (MCP
      // "Scope Challenge Handling").
      const defaults = challengeOptionsFor(loaded, upstreamIndexOf(route.resource));
      const scope = error.details.scope;
      const challenge = resourceChallenges(error, {
        resourceMetadataUrl: route.resourceMetadataUrl,
        scope: scope !== undefined ? [scope] : (defaults.scope ?? []),
        ...(defaults.dpop === undefined ? {} : { dpop: defaults.dpop }),
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
