import assert from 'node:assert/strict';
import { RequestError, type RequestErrorCode } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  type AccessTokenPolicy,
  createAccessTokenVerifier,
  createRemoteKeySource,
  type JwtAccessTokenVerifier,
  type RemoteKeySource,
} from '../../src/resource-server/index.ts';
import { json, type LoopbackServer, startLoopbackServer } from './http-server.ts';
import { generateKey, type TestKey } from './tokens.ts';

export const ISSUER = 'https://issuer.example';
export const AUDIENCE = 'https://gateway.example/mcp';
/** The fixed "now" of the unit tests, in seconds. */
export const NOW = 1_800_000_000;
export const TOKEN_ID_SECRET = Buffer.from('test-token-id-secret-0123456789abcdefghijklmnop');
export const ALLOWED_SCOPES = ['files:read', 'files:write'];

/** Keys are costly to generate, so the tests share one set. */
let shared: Record<'rs' | 'ps' | 'es' | 'ed' | 'attacker', TestKey> | undefined;
export function testKeys(): Record<'rs' | 'ps' | 'es' | 'ed' | 'attacker', TestKey> {
  shared ??= {
    rs: generateKey('RS256', 'rs-1'),
    ps: generateKey('PS256', 'ps-1'),
    es: generateKey('ES256', 'es-1'),
    ed: generateKey('EdDSA', 'ed-1'),
    attacker: generateKey('RS256', 'rs-1'),
  };
  return shared;
}

export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'alice',
    client_id: 'client-1',
    iat: NOW - 10,
    exp: NOW + 600,
    jti: 'jti-1',
    scope: 'files:read other:scope',
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base;
}

export interface Fixture {
  readonly server: LoopbackServer;
  readonly keySource: RemoteKeySource;
  readonly verifier: JwtAccessTokenVerifier;
  /** The JWKS the server publishes; change it to rotate. */
  jwks: unknown;
  /** The clock, in ms; move it to travel. */
  nowMs: number;
  close(): Promise<void>;
}

/** A verifier with a remote JWKS on a real loopback server, fetched through the guarded fetcher. */
export async function createFixture(
  options: {
    jwks?: unknown;
    policy?: Partial<AccessTokenPolicy>;
    cooldownMs?: number;
    maxAgeMs?: number;
    cache?: false | { maxEntries?: number; ttlSeconds?: number };
  } = {},
): Promise<Fixture> {
  const keys = testKeys();
  const fixture = {
    jwks: options.jwks ?? { keys: [keys.rs.jwk, keys.ps.jwk, keys.es.jwk, keys.ed.jwk] },
    nowMs: NOW * 1000,
  } as Fixture;
  const server = await startLoopbackServer({
    '/jwks': (_request, response) => json(response, 200, fixture.jwks),
  });
  const now = () => fixture.nowMs;
  const algorithms = options.policy?.algorithms ?? ['RS256', 'PS256', 'ES256', 'EdDSA'];
  const keySource = createRemoteKeySource({
    jwksUrl: `${server.origin}/jwks`,
    issuer: ISSUER,
    algorithms,
    fetch: createGuardedFetch({ allowLoopback: true }),
    cooldownMs: options.cooldownMs,
    maxAgeMs: options.maxAgeMs,
    now,
  });
  const verifier = createAccessTokenVerifier({
    issuer: ISSUER,
    audiences: [AUDIENCE],
    algorithms,
    tokenIdSecret: TOKEN_ID_SECRET,
    allowedScopes: ALLOWED_SCOPES,
    ...options.policy,
    keys: keySource,
    cache: options.cache,
    now,
  });
  Object.assign(fixture, { server, keySource, verifier, close: () => server.close() });
  return fixture;
}

/** Asserts that `promise` rejects with a RequestError of `code`; returns it. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: RequestErrorCode,
): Promise<RequestError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RequestError, `expected RequestError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.fail(`expected rejection with ${code}, but it resolved`);
}
