import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { RequestError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  accessTokenHash,
  authenticateRequest,
  createDpopProofVerifier,
  createIntrospectionVerifier,
  createMemoryReplayCache,
} from '../../src/resource-server/index.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import {
  ALLOWED_SCOPES,
  AUDIENCE,
  ISSUER,
  NOW,
  TOKEN_ID_SECRET,
} from '../helpers/verifier-fixture.ts';

/*
 * RFC 9449 §6.2 and RFC 7662: an opaque token whose introspection answer carries `cnf.jkt`
 * (token_type DPoP) is held to the same rule as a JWT: only with a proof by that key.
 */

const pair = await generateKeyPair('ES256', { extractable: true });
const jwk = await exportJWK(pair.publicKey);
const jkt = await calculateJwkThumbprint(jwk, 'sha256');
const other = await generateKeyPair('ES256', { extractable: true });
const otherJwk = await exportJWK(other.publicKey);

const answer = (token: string) => ({
  active: true,
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'alice',
  client_id: 'client-1',
  scope: 'files:read',
  exp: NOW + 600,
  iat: NOW - 10,
  ...(token === 'bound-token' ? { token_type: 'DPoP', cnf: { jkt } } : { token_type: 'Bearer' }),
});

let server: LoopbackServer;
before(async () => {
  server = await startLoopbackServer({
    '/introspect': (_request, response, body) => {
      const token = new URLSearchParams(body.toString('utf8')).get('token') ?? '';
      json(response, 200, answer(token));
    },
  });
});
after(() => server.close());

function verifier(acceptDpopBound: boolean) {
  return createIntrospectionVerifier({
    url: `${server.origin}/introspect`,
    clientId: 'gateway',
    clientSecret: 'secret',
    issuer: ISSUER,
    audiences: [AUDIENCE],
    allowedScopes: ALLOWED_SCOPES,
    tokenIdSecret: TOKEN_ID_SECRET,
    fetch: createGuardedFetch({ allowLoopback: true, timeoutMs: 2000 }),
    now: () => NOW * 1000,
    acceptDpopBound,
  });
}

let counter = 0;
async function proof(key: typeof pair, keyJwk: typeof jwk, token: string): Promise<string> {
  return new CompactSign(
    new TextEncoder().encode(
      JSON.stringify({
        jti: `i-${++counter}`,
        htm: 'POST',
        htu: AUDIENCE,
        iat: NOW,
        ath: accessTokenHash(token),
      }),
    ),
  )
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: keyJwk })
    .sign(key.privateKey);
}

describe('introspected tokens honour cnf', () => {
  const proofs = createDpopProofVerifier({
    context: 'resource',
    replay: createMemoryReplayCache(),
    now: () => NOW * 1000,
  });
  const present = async (
    accept: boolean,
    authorization: string,
    dpop?: string,
  ): Promise<string> => {
    try {
      const access = await authenticateRequest(
        { authorization, dpop, method: 'POST', url: AUDIENCE },
        { mode: accept ? 'allowed' : 'off', verifier: verifier(accept), proofs },
      );
      return access.senderConstrained ? 'ok-dpop' : 'ok-bearer';
    } catch (error) {
      assert.ok(error instanceof RequestError, String(error));
      return error.code;
    }
  };

  test('DPoP off: a bound token is refused', async () => {
    assert.equal(await present(false, 'Bearer bound-token'), 'AuthTokenInvalid');
  });
  test('bound token as Bearer: refused (no downgrade)', async () => {
    assert.equal(await present(true, 'Bearer bound-token'), 'AuthTokenInvalid');
  });
  test('bound token without a proof: invalid_dpop_proof', async () => {
    assert.equal(await present(true, 'DPoP bound-token'), 'AuthDpopProofInvalid');
  });
  test('bound token with a proof by another key: invalid_token', async () => {
    assert.equal(
      await present(true, 'DPoP bound-token', await proof(other, otherJwk, 'bound-token')),
      'AuthTokenInvalid',
    );
  });
  test('positive controls: the bound token with its proof; a plain token as Bearer', async () => {
    assert.equal(
      await present(true, 'DPoP bound-token', await proof(pair, jwk, 'bound-token')),
      'ok-dpop',
    );
    assert.equal(await present(true, 'Bearer plain-token'), 'ok-bearer');
  });
});
