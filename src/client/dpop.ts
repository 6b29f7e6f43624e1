import {
  DPOP_SUPPORTED_ALGS,
  type DpopAlg,
  DpopSession,
  type FetchLike,
  generateDpopKeyPair,
  withDpop,
} from '@modelcontextprotocol/client';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, importJWK, type JWK } from 'jose';
import { ClientError } from '../errors/index.ts';
import type { AuthorizationServerMetadata } from './discovery.ts';

/*
 * DPoP in the client (RFC 9449): one key per (server, issuer), kept in the encrypted token store
 * next to the tokens it binds, a fresh proof for every token request and every request to the
 * server, and the nonce retry (§8, §9). Proof building, nonce memory and the retries are the MCP
 * SDK's (DpopSession, withDpop, and its token requests); this module decides when DPoP is used
 * and keeps the key.
 */

export const DPOP_MODES = ['auto', 'required', 'off'] as const;
/** `--dpop`: auto (when the authorization server advertises it), required, or off. */
export type DpopMode = (typeof DPOP_MODES)[number];

export function parseDpopMode(value: string | undefined): DpopMode {
  if (value === undefined) return 'auto';
  if ((DPOP_MODES as readonly string[]).includes(value)) return value as DpopMode;
  throw new ClientError(
    'ClientTokenRequestFailed',
    `--dpop takes auto, required or off, not "${value}"`,
    {
      fix: 'use --dpop auto (the default), --dpop required or --dpop off',
    },
  );
}

/** The algorithms this client signs proofs with, most preferred first. */
const PREFERRED: readonly DpopAlg[] = ['ES256', 'EdDSA', 'ES384', 'PS256', 'RS256'];

/**
 * The proof algorithm to use with this authorization server, or undefined for no DPoP:
 * `auto` uses DPoP when `dpop_signing_alg_values_supported` (RFC 9449 §5.1) names an algorithm
 * we sign with; `required` refuses to go on without one; `off` never uses it.
 */
export function dpopAlgorithmFor(
  mode: DpopMode,
  metadata: AuthorizationServerMetadata,
): DpopAlg | undefined {
  if (mode === 'off') return undefined;
  const advertised = metadata.dpop_signing_alg_values_supported;
  const offered = Array.isArray(advertised)
    ? advertised.filter((alg): alg is string => typeof alg === 'string')
    : [];
  const chosen =
    PREFERRED.find((alg) => offered.includes(alg)) ??
    (DPOP_SUPPORTED_ALGS as readonly string[]).find((alg) => offered.includes(alg));
  if (chosen === undefined && mode === 'required') {
    throw new ClientError(
      'ClientTokenRequestFailed',
      `${metadata.issuer} does not advertise DPoP (dpop_signing_alg_values_supported)${offered.length > 0 ? ` with an algorithm this client signs with (it offers ${offered.join(', ')})` : ''}`,
      { fix: 'use --dpop auto to fall back to bearer tokens with this server' },
    );
  }
  return chosen as DpopAlg | undefined;
}

/** A DPoP key as the token store keeps it (sealed with the tokens, never in clear on disk). */
export interface StoredDpopKey {
  readonly alg: DpopAlg;
  /** The private JWK; the public half is derived from it. */
  readonly private_jwk: JWK;
  /** RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key. */
  readonly jkt: string;
}

/**
 * A new key: extractable, because a refresh token bound to it (RFC 9449 §5) must outlive this
 * process; it is stored only inside the encrypted token store.
 */
export async function newDpopKey(alg: DpopAlg): Promise<StoredDpopKey> {
  const pair = await generateDpopKeyPair({ alg, extractable: true });
  return {
    alg,
    private_jwk: await exportJWK(pair.privateKey),
    jkt: pair.thumbprint,
  };
}

/** The SDK session signing with a stored key (its nonce memory starts empty). */
export async function dpopSessionFor(stored: StoredDpopKey): Promise<DpopSession> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = stored.private_jwk;
  const [privateKey, publicKey, thumbprint] = await Promise.all([
    importJWK(stored.private_jwk, stored.alg),
    importJWK(publicJwk, stored.alg, { extractable: true }),
    calculateJwkThumbprint(publicJwk, 'sha256'),
  ]);
  if (thumbprint !== stored.jkt) {
    throw new ClientError(
      'ClientTokenStoreFailed',
      'the stored DPoP key does not match its thumbprint',
      {
        fix: 'run portcullis logout for this server and log in again',
      },
    );
  }
  return DpopSession.create({
    keyPair: {
      privateKey: privateKey as CryptoKey,
      publicKey: publicKey as CryptoKey,
      publicJwk,
      thumbprint,
      alg: stored.alg,
    },
  });
}

/**
 * The fetch for requests to the MCP server with a DPoP-bound token: `Authorization: DPoP`, a
 * proof per request with `ath`, and one retry on a `use_dpop_nonce` challenge (RFC 9449 §7.1,
 * §9). `token` returns the current access token; none means the request goes as it is.
 */
export function dpopResourceFetch(
  session: DpopSession,
  token: () => Promise<string | undefined> | string | undefined,
  base: FetchLike,
): FetchLike {
  return withDpop(session, async () => token())(base);
}

/**
 * The fetch for token requests when DPoP is used (RFC 9449 §5, §8): a POST to `tokenEndpoint`
 * carries a fresh proof; a 400 `use_dpop_nonce` is retried once with the nonce the server sent;
 * a `DPoP-Nonce` on any answer is remembered for the next proof. Other requests pass unchanged.
 * For token requests made through an SDK without DPoP of its own.
 */
export function dpopTokenFetch(
  session: DpopSession,
  tokenEndpoint: string,
  base: FetchLike,
): FetchLike {
  const target = new URL(tokenEndpoint).href;
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (
      init?.method ?? (input instanceof Request ? input.method : 'GET')
    ).toUpperCase();
    if (url.href !== target || method !== 'POST') return base(input, init);
    // The body is sent twice at most: keep it replayable.
    const body = init?.body;
    const send = async () => {
      const headers = new Headers(init?.headers);
      headers.set('dpop', await session.buildProof({ htm: 'POST', htu: url }));
      return base(input, { ...init, headers, ...(body === undefined ? {} : { body }) });
    };
    let response = await send();
    if (response.status === 400 && response.headers.has('dpop-nonce')) {
      const answer = (await response
        .clone()
        .json()
        .catch(() => undefined)) as { error?: unknown } | undefined;
      if (answer?.error === 'use_dpop_nonce') {
        session.observeNonce(response, url);
        await response.body?.cancel().catch(() => undefined);
        response = await send();
      }
    }
    session.observeNonce(response, url);
    return response;
  };
}

/**
 * The headers that present a DPoP-bound token on one request to the MCP server (RFC 9449 §7.1):
 * `Authorization: DPoP <token>` and a fresh proof naming the method, URL and token (`ath`).
 */
export async function dpopRequestHeaders(
  session: DpopSession,
  request: { readonly method: string; readonly url: string | URL; readonly token: string },
): Promise<{ authorization: string; dpop: string }> {
  return {
    authorization: `DPoP ${request.token}`,
    dpop: await session.buildProof({
      htm: request.method,
      htu: request.url,
      accessToken: request.token,
    }),
  };
}
