import { RequestError } from '../errors/index.ts';
import type { Exchange, Services } from './services.ts';

/*
 * DPoP at the token endpoint (RFC 9449 §5): a token request may carry a proof; when it does and
 * the token's resource accepts DPoP, the access token is bound to the proof's key (`cnf.jkt`,
 * token_type DPoP), and so is a public client's refresh token. The proof checker itself is the
 * resource server's (same rules, §4.3), handed in by whoever assembles the server, so this
 * folder keeps to its layer.
 */

/** What the token endpoint needs of a DPoP proof checker (resource-server/dpop.ts fits). */
export interface TokenEndpointProofs {
  /** Accepted proof algorithms, for `dpop_signing_alg_values_supported`. */
  readonly algorithms: readonly string[];
  /** Rejects with OAuthInvalidDpopProof or OAuthUseDpopNonce (details.dpopNonce). */
  verify(request: {
    readonly proof: string | readonly string[] | undefined;
    readonly method: string;
    readonly url: string;
  }): Promise<{ readonly jkt: string }>;
}

/** DPoP as the authorization server offers it. */
export interface AuthorizationServerDpop {
  readonly proofs: TokenEndpointProofs;
  /** Resources whose route accepts DPoP; tokens for others stay Bearer (RFC 9449 §5). */
  readonly resources: ReadonlySet<string>;
  /** Resources whose route accepts nothing but DPoP: a token for them needs a proof. */
  readonly required: ReadonlySet<string>;
}

/** A token request once its proof (if any) has been checked. */
export interface TokenExchange extends Exchange {
  /** Thumbprint of the key that signed the request's DPoP proof. */
  readonly dpopJkt?: string | undefined;
}

/** An RFC 7638 SHA-256 thumbprint, base64url (RFC 9449 §10 `dpop_jkt`). */
export const JKT_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Checks the request's DPoP proof when one came, for POST to the token endpoint's public URL
 * (never the Host header); returns its key's thumbprint. Without DPoP support a proof is
 * ignored, and the token stays Bearer, which tells the client so (§5).
 */
export async function tokenRequestKey(exchange: Exchange): Promise<string | undefined> {
  const dpop = exchange.services.dpop;
  const header = exchange.request.headers.get('dpop');
  if (dpop === undefined || header === null) return undefined;
  // Fetch joins repeated headers with ", "; a compact JWS has no comma, so one means two.
  const proof = header.includes(',') ? header.split(',').map((part) => part.trim()) : header;
  const { jkt } = await dpop.proofs.verify({
    proof,
    method: exchange.request.method,
    url: exchange.services.settings.urls.token,
  });
  return jkt;
}

/**
 * The key to bind a token for `resource` to: the proof's, when that resource accepts DPoP. A
 * resource that accepts only DPoP gets no token without a proof: a Bearer token for it would be
 * refused at every request, so the client learns it here, with the error that names the fix.
 */
export function bindingFor(
  services: Services,
  resource: string,
  jkt: string | undefined,
): string | undefined {
  if (jkt === undefined && services.dpop?.required.has(resource) === true) {
    throw new RequestError(
      'OAuthInvalidDpopProof',
      'this resource accepts only DPoP-bound tokens: send a DPoP proof with the token request',
    );
  }
  return jkt !== undefined && services.dpop?.resources.has(resource) === true ? jkt : undefined;
}

/**
 * RFC 9449 §5, §10: a code requested with `dpop_jkt`, or a refresh token bound to a key, is
 * redeemed only with a proof by that key.
 */
export function requireSameKey(
  bound: string | undefined,
  presented: string | undefined,
  what: string,
): void {
  if (bound === undefined) return;
  if (presented !== bound) {
    throw new RequestError(
      'OAuthInvalidGrant',
      `the ${what} is bound to a DPoP key: send a DPoP proof signed by that key`,
    );
  }
}

/** `dpop_jkt` on the authorization request (RFC 9449 §10), when DPoP is on. */
export function authorizationRequestKey(
  services: Services,
  value: string | undefined,
): string | undefined {
  if (services.dpop === undefined || value === undefined) return undefined;
  if (!JKT_SHAPE.test(value)) {
    throw new RequestError('OAuthInvalidRequest', 'dpop_jkt is not a JWK SHA-256 thumbprint');
  }
  return value;
}
