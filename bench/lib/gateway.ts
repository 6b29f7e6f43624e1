/**
 * What the benchmarks that go through the gateway share: a signing key and its JWKS (the
 * gateway verifies against it on loopback), one access token, the MCP headers a client sends,
 * opening an MCP session, and the order statistics the sections report.
 */
import {
  createHash,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  sign,
} from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';

export const ISSUER = 'https://bench-issuer.example';
export const AUDIENCE = 'http://127.0.0.1/mcp';
export const PROTOCOL_VERSION = '2025-06-18';

export interface BenchCredentials {
  /** The JWKS document (JSON text) the gateway fetches. */
  readonly jwks: string;
  /** An ES256 access token for ISSUER/AUDIENCE with scope bench:echo, valid one hour. */
  readonly token: string;
  /** The same kind of token bound to `dpopKey` (RFC 9449 `cnf.jkt`). */
  readonly dpopToken: string;
  /** The client's DPoP key pair as JWKs (ES256), for the load generator's proofs. */
  readonly dpopKey: { readonly privateJwk: JsonWebKey; readonly publicJwk: JsonWebKey };
}

export async function benchCredentials(): Promise<BenchCredentials> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
  const mint = (extra: Record<string, unknown>) =>
    new SignJWT({ scope: 'bench:echo', client_id: 'bench', ...extra })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = pair.publicKey.export({ format: 'jwk' });
  const jkt = await calculateJwkThumbprint(publicJwk as never, 'sha256');
  return {
    jwks: JSON.stringify({ keys: [jwk] }),
    token: await mint({}),
    dpopToken: await mint({ cnf: { jkt } }),
    dpopKey: { privateJwk: pair.privateKey.export({ format: 'jwk' }), publicJwk },
  };
}

/**
 * A DPoP proof (RFC 9449 §4.2) for one request, signed with node:crypto: the load generator
 * makes one per request, as a client must (proofs are single-use).
 */
export function dpopProof(
  key: { readonly privateKey: KeyObject; readonly publicJwk: JsonWebKey },
  request: { readonly method: string; readonly url: string; readonly token: string },
  jti: string,
): string {
  const header = Buffer.from(
    JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk }),
  ).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({
      jti,
      htm: request.method,
      htu: request.url,
      iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(request.token).digest('base64url'),
    }),
  ).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  }).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

/** The headers of an MCP client's POST (Streamable HTTP: both media types accepted). */
export function postHeaders(token: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${token}`,
  };
}

export function initializeBody(id: number): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'bench', version: '1' },
    },
  });
}

export const INITIALIZED_NOTIFICATION = JSON.stringify({
  jsonrpc: '2.0',
  method: 'notifications/initialized',
});

/** The gateway keeps MCP sessions: open one (initialize) and send the load inside it. */
export async function openSession(
  url: string,
  headers: Record<string, string>,
): Promise<Record<string, string>> {
  const response = await fetch(url, { method: 'POST', headers, body: initializeBody(0) });
  await response.arrayBuffer();
  const session = response.headers.get('mcp-session-id');
  if (response.status !== 200)
    throw new Error(`initialize through the gateway answered ${response.status}`);
  return session === null
    ? {}
    : { 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL_VERSION };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Nearest-rank percentile (p in 0–100). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

/** Least-squares slope of y over x: the per-item cost, robust to a noisy single point. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}
