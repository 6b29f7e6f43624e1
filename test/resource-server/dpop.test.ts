import assert from 'node:assert/strict';
import { KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  CompactSign,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import { RequestError, type RequestErrorCode } from '../../src/errors/index.ts';
import {
  accessTokenHash,
  authenticateRequest,
  buildChallenge,
  buildKeySet,
  createAccessTokenVerifier,
  createDpopNonces,
  createDpopProofVerifier,
  createMemoryReplayCache,
  createStaticKeySource,
  type DpopMode,
  type DpopProofVerifier,
  htuOf,
  type PresentationRequest,
  ReplayCacheFullError,
} from '../../src/resource-server/index.ts';

/*
 * RFC 9449 §4.3 proof checks, §7 presentation of bound tokens, §9 resource server nonces; keys,
 * proofs and tokens are made with jose, as a DPoP client would make them.
 */

const NOW = 1_800_000_000;
const URL_MCP = 'https://gateway.example/mcp';
const ISSUER = 'https://issuer.example';
const SECRET = Buffer.from('dpop-test-secret-0123456789abcdefghijklmnopqrstu');

type Key = {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
  jkt: string;
};
async function makeKey(alg: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

const client = await makeKey('ES256');
const other = await makeKey('ES256');
const rsa = await makeKey('PS256');
const ed = await makeKey('EdDSA');
const issuerKey = await makeKey('ES256');

interface ProofOptions {
  key?: Key;
  alg?: string;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  omit?: string[];
}
let counter = 0;
async function proof(options: ProofOptions = {}, token?: string): Promise<string> {
  const key = options.key ?? client;
  const alg = options.alg ?? (key === rsa ? 'PS256' : key === ed ? 'EdDSA' : 'ES256');
  const claims: Record<string, unknown> = {
    jti: `proof-${++counter}`,
    htm: 'POST',
    htu: URL_MCP,
    iat: NOW,
    ...(token === undefined ? {} : { ath: accessTokenHash(token) }),
    ...options.claims,
  };
  for (const name of options.omit ?? []) delete claims[name];
  const header = { typ: 'dpop+jwt', alg, jwk: key.publicJwk, ...options.header };
  for (const name of options.omit ?? []) delete (header as Record<string, unknown>)[name];
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(header as never)
    .sign(key.privateKey);
}

/** A proof signed with node:crypto over any header, for headers jose refuses to produce. */
function rawProof(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${enc(header)}.${enc(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: KeyObject.from(client.privateKey),
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

function verifier(extra: { nonces?: boolean; skew?: number } = {}): DpopProofVerifier {
  return createDpopProofVerifier({
    context: 'resource',
    replay: createMemoryReplayCache(),
    clockSkewSeconds: extra.skew ?? 60,
    now: () => NOW * 1000,
    ...(extra.nonces ? { nonces: createDpopNonces({ secret: SECRET }) } : {}),
  });
}

async function outcome(run: () => Promise<unknown>): Promise<RequestErrorCode | 'ok'> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof RequestError, String(error));
    return error.code;
  }
}

describe('RFC 9449 §4.3: checking a proof', () => {
  const token = 'an-access-token';
  const cases: [string, () => Promise<string | string[] | undefined>, RequestErrorCode | 'ok'][] = [
    ['no DPoP header', async () => undefined, 'AuthDpopProofInvalid'],
    [
      'two DPoP headers',
      async () => [await proof({}, token), await proof({}, token)],
      'AuthDpopProofInvalid',
    ],
    ['not a JWS', async () => 'not-a-jws', 'AuthDpopProofInvalid'],
    ['typ jwt', () => proof({ header: { typ: 'jwt' } }, token), 'AuthDpopProofInvalid'],
    ['no typ', () => proof({ omit: ['typ'] }, token), 'AuthDpopProofInvalid'],
    ['no jwk', () => proof({ omit: ['jwk'] }, token), 'AuthDpopProofInvalid'],
    [
      'private key in jwk',
      async () => {
        const { privateKey } = await generateKeyPair('ES256', { extractable: true });
        const privateJwk = await exportJWK(privateKey);
        return new CompactSign(
          new TextEncoder().encode(
            JSON.stringify({
              jti: 'x',
              htm: 'POST',
              htu: URL_MCP,
              iat: NOW,
              ath: accessTokenHash(token),
            }),
          ),
        )
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: privateJwk } as never)
          .sign(privateKey);
      },
      'AuthDpopProofInvalid',
    ],
    [
      'alg none',
      async () => {
        const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return `${enc({ typ: 'dpop+jwt', alg: 'none', jwk: client.publicJwk })}.${enc({ jti: 'n', htm: 'POST', htu: URL_MCP, iat: NOW, ath: accessTokenHash(token) })}.`;
      },
      'AuthDpopProofInvalid',
    ],
    [
      'HS256 (a MAC)',
      async () =>
        new CompactSign(new TextEncoder().encode('{}'))
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: client.publicJwk } as never)
          .sign(new Uint8Array(32)),
      'AuthDpopProofInvalid',
    ],
    [
      'jwk of another key (signature)',
      () => proof({ header: { jwk: other.publicJwk } }, token),
      'AuthDpopProofInvalid',
    ],
    [
      'jwk curve not fitting alg',
      async () =>
        rawProof(
          { typ: 'dpop+jwt', alg: 'ES384', jwk: client.publicJwk },
          { jti: 'c', htm: 'POST', htu: URL_MCP, iat: NOW, ath: accessTokenHash(token) },
        ),
      'AuthDpopProofInvalid',
    ],
    [
      'raw-signed proof (control for the raw signer)',
      async () =>
        rawProof(
          { typ: 'dpop+jwt', alg: 'ES256', jwk: client.publicJwk },
          { jti: 'r', htm: 'POST', htu: URL_MCP, iat: NOW, ath: accessTokenHash(token) },
        ),
      'ok',
    ],
    [
      'crit header',
      async () =>
        rawProof(
          { typ: 'dpop+jwt', alg: 'ES256', jwk: client.publicJwk, crit: ['x'], x: 1 },
          { jti: 'k', htm: 'POST', htu: URL_MCP, iat: NOW, ath: accessTokenHash(token) },
        ),
      'AuthDpopProofInvalid',
    ],
    ['no jti', () => proof({ omit: ['jti'] }, token), 'AuthDpopProofInvalid'],
    ['other method (htm)', () => proof({ claims: { htm: 'GET' } }, token), 'AuthDpopProofInvalid'],
    ['lowercase method', () => proof({ claims: { htm: 'post' } }, token), 'AuthDpopProofInvalid'],
    [
      'other URL (htu)',
      () => proof({ claims: { htu: 'https://gateway.example/other' } }, token),
      'AuthDpopProofInvalid',
    ],
    [
      'other host (htu)',
      () => proof({ claims: { htu: 'https://evil.example/mcp' } }, token),
      'AuthDpopProofInvalid',
    ],
    ['no htu', () => proof({ omit: ['htu'] }, token), 'AuthDpopProofInvalid'],
    ['stale iat', () => proof({ claims: { iat: NOW - 61 } }, token), 'AuthDpopProofInvalid'],
    ['future iat', () => proof({ claims: { iat: NOW + 61 } }, token), 'AuthDpopProofInvalid'],
    ['iat a string', () => proof({ claims: { iat: String(NOW) } }, token), 'AuthDpopProofInvalid'],
    ['no ath', () => proof({ omit: ['ath'] }, token), 'AuthDpopProofInvalid'],
    [
      'ath of another token',
      () => proof({ claims: { ath: accessTokenHash('other') } }, token),
      'AuthDpopProofInvalid',
    ],
    // Positive controls: every algorithm family, and htu spelled differently but equal.
    ['RSA-PSS key', () => proof({ key: rsa }, token), 'ok'],
    ['Ed25519 key', () => proof({ key: ed }, token), 'ok'],
    [
      'htu with query and default port',
      () => proof({ claims: { htu: 'HTTPS://Gateway.Example:443/mcp?x=1#f' } }, token),
      'ok',
    ],
    ['iat at the edge of the skew', () => proof({ claims: { iat: NOW - 60 } }, token), 'ok'],
    ['valid proof (positive control)', () => proof({}, token), 'ok'],
  ];
  const check = verifier();
  for (const [name, make, expected] of cases) {
    test(name, async () => {
      const value = await make();
      assert.equal(
        await outcome(() =>
          check.verify({ proof: value, method: 'POST', url: URL_MCP, accessToken: token }),
        ),
        expected,
      );
    });
  }

  test('the result names the key thumbprint (RFC 7638) and the proof', async () => {
    const result = await verifier().verify({
      proof: await proof({}, token),
      method: 'POST',
      url: URL_MCP,
      accessToken: token,
    });
    assert.equal(result.jkt, client.jkt);
    assert.equal(result.alg, 'ES256');
    assert.equal(result.iat, NOW);
  });

  test('a replayed proof is refused; the same jti under another key is not a replay', async () => {
    const check2 = verifier();
    const once = await proof({ claims: { jti: 'same' } }, token);
    const request = { method: 'POST', url: URL_MCP, accessToken: token };
    assert.equal(await outcome(() => check2.verify({ ...request, proof: once })), 'ok');
    assert.equal(
      await outcome(() => check2.verify({ ...request, proof: once })),
      'AuthDpopProofInvalid',
    );
    const otherKey = await proof({ key: other, claims: { jti: 'same' } }, token);
    assert.equal(await outcome(() => check2.verify({ ...request, proof: otherKey })), 'ok');
  });

  test('ath follows the token presented: one checker, tokens in turn (positive controls between)', async () => {
    const check2 = verifier();
    const request = { method: 'POST', url: URL_MCP };
    const first = 'first-access-token';
    const second = 'second-access-token';
    const rows: [string, string, string, RequestErrorCode | 'ok'][] = [
      ['first token, its own proof', first, first, 'ok'],
      ['second token, a proof for the first', second, first, 'AuthDpopProofInvalid'],
      ['second token, its own proof', second, second, 'ok'],
      ['first token again, a proof for the second', first, second, 'AuthDpopProofInvalid'],
      ['first token again, its own proof (positive control)', first, first, 'ok'],
    ];
    for (const [name, presented, provenFor, expected] of rows) {
      const value = await proof({}, provenFor);
      assert.equal(
        await outcome(() => check2.verify({ ...request, proof: value, accessToken: presented })),
        expected,
        name,
      );
    }
  });

  test('a proof refused for another reason does not use up its jti', async () => {
    const check2 = verifier();
    const value = await proof({ claims: { jti: 'keep' } }, token);
    assert.equal(
      await outcome(() =>
        check2.verify({ proof: value, method: 'GET', url: URL_MCP, accessToken: token }),
      ),
      'AuthDpopProofInvalid',
    );
    assert.equal(
      await outcome(() =>
        check2.verify({ proof: value, method: 'POST', url: URL_MCP, accessToken: token }),
      ),
      'ok',
    );
  });

  test('the skew is clamped to 300 s whatever is configured', async () => {
    const check2 = verifier({ skew: 10_000 });
    const request = { method: 'POST', url: URL_MCP, accessToken: token };
    assert.equal(
      await outcome(async () =>
        check2.verify({ ...request, proof: await proof({ claims: { iat: NOW - 301 } }, token) }),
      ),
      'AuthDpopProofInvalid',
    );
    assert.equal(
      await outcome(async () =>
        check2.verify({ ...request, proof: await proof({ claims: { iat: NOW - 300 } }, token) }),
      ),
      'ok',
    );
  });

  test('at the token endpoint the same failures are 400 invalid_dpop_proof', async () => {
    const check2 = createDpopProofVerifier({
      context: 'token-endpoint',
      replay: createMemoryReplayCache(),
      now: () => NOW * 1000,
    });
    const error = await check2
      .verify({ proof: await proof({ claims: { htm: 'GET' } }), method: 'POST', url: URL_MCP })
      .catch((e: unknown) => e);
    assert.ok(error instanceof RequestError);
    assert.equal(error.code, 'OAuthInvalidDpopProof');
    assert.equal(error.status, 400);
  });

  test('the algorithm allow-list is honoured', async () => {
    const esOnly = createDpopProofVerifier({
      context: 'resource',
      algorithms: ['ES256'],
      replay: createMemoryReplayCache(),
      now: () => NOW * 1000,
    });
    const request = { method: 'POST', url: URL_MCP, accessToken: token };
    assert.equal(
      await outcome(async () =>
        esOnly.verify({ ...request, proof: await proof({ key: rsa }, token) }),
      ),
      'AuthDpopProofInvalid',
    );
    assert.equal(
      await outcome(async () => esOnly.verify({ ...request, proof: await proof({}, token) })),
      'ok',
    );
  });

  test('htu comparison ignores query and fragment only', () => {
    assert.equal(htuOf('https://a.example:443/x/../mcp?q#f'), 'https://a.example/mcp');
    assert.equal(htuOf('ftp://a.example/mcp'), undefined);
    assert.equal(htuOf('not a url'), undefined);
    assert.notEqual(htuOf('https://a.example/mcp/'), htuOf('https://a.example/mcp'));
  });
});

describe('RFC 9449 §9: resource server nonces', () => {
  test('a proof without the nonce gets use_dpop_nonce and the nonce; with it, passes', async () => {
    const check = verifier({ nonces: true });
    const token = 't';
    const error = await check
      .verify({ proof: await proof({}, token), method: 'POST', url: URL_MCP, accessToken: token })
      .catch((e: unknown) => e);
    assert.ok(error instanceof RequestError);
    assert.equal(error.code, 'AuthDpopNonceRequired');
    const nonce = error.details.dpopNonce;
    assert.ok(nonce !== undefined && nonce.length > 0);
    assert.equal(nonce, check.nonce());
    const challenge = buildChallenge(error, {
      resourceMetadataUrl: 'https://gateway.example/prm',
      dpop: { algorithms: ['ES256'], bearer: false },
    });
    assert.equal(challenge.status, 401);
    assert.equal(challenge.headers['dpop-nonce'], nonce);
    assert.match(
      challenge.headers['www-authenticate'] ?? '',
      /^DPoP algs="ES256", error="use_dpop_nonce"/,
    );
    const result = await check.verify({
      proof: await proof({ claims: { nonce } }, token),
      method: 'POST',
      url: URL_MCP,
      accessToken: token,
    });
    assert.equal(result.jkt, client.jkt);
  });

  test('nonces: the previous step is accepted, older ones and forgeries are not', () => {
    const nonces = createDpopNonces({ secret: SECRET, stepSeconds: 60 });
    const at = NOW * 1000;
    const current = nonces.current(at);
    assert.equal(nonces.accepts(current, at), true);
    assert.equal(nonces.accepts(current, at + 60_000), true);
    assert.equal(nonces.accepts(current, at + 120_000), false);
    const forged = createDpopNonces({ secret: Buffer.alloc(32, 7) }).current(at);
    assert.equal(nonces.accepts(forged, at), false);
    assert.equal(nonces.accepts(undefined, at), false);
    assert.equal(nonces.accepts(`${current.slice(0, -1)}A`, at), current.endsWith('A'));
  });
});

describe('replay cache', () => {
  test('full of live entries, it refuses (fail closed); expired entries make room', async () => {
    const cache = createMemoryReplayCache(2);
    assert.equal(await cache.remember('a', 2000, 0), true);
    assert.equal(await cache.remember('a', 2000, 1), false);
    assert.equal(await cache.remember('b', 5000, 1), true);
    await assert.rejects(cache.remember('c', 5000, 2), ReplayCacheFullError);
    assert.equal(await cache.remember('c', 5000, 2500), true);
    assert.equal(await cache.remember('a', 9000, 5000), true);
  });
});

describe('RFC 9449 §7: presenting a bound token', async () => {
  const keySet = await buildKeySet(
    { keys: [{ ...issuerKey.publicJwk, alg: 'ES256', kid: 'as-1' }] },
    ['ES256'],
    undefined,
  );
  const accessVerifier = createAccessTokenVerifier({
    issuer: ISSUER,
    audiences: [URL_MCP],
    algorithms: ['ES256'],
    tokenIdSecret: SECRET,
    allowedScopes: ['files:read'],
    keys: createStaticKeySource(keySet),
    acceptDpopBound: true,
    now: () => NOW * 1000,
  });

  async function accessToken(claims: Record<string, unknown>): Promise<string> {
    return new SignJWT({ scope: 'files:read', client_id: 'c', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'as-1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(URL_MCP)
      .setSubject('alice')
      .setIssuedAt(NOW - 5)
      .setExpirationTime(NOW + 300)
      .setJti(`at-${++counter}`)
      .sign(issuerKey.privateKey);
  }
  const bound = await accessToken({ cnf: { jkt: client.jkt } });
  const plain = await accessToken({});
  const mtls = await accessToken({ cnf: { 'x5t#S256': 'abc' } });

  async function present(
    mode: DpopMode,
    request: Partial<PresentationRequest>,
  ): Promise<{ code: RequestErrorCode | 'ok'; challenge?: string; constrained?: boolean }> {
    const proofs = verifier();
    try {
      const result = await authenticateRequest(
        { authorization: undefined, dpop: undefined, method: 'POST', url: URL_MCP, ...request },
        { mode, verifier: accessVerifier, proofs },
      );
      return { code: 'ok', constrained: result.senderConstrained };
    } catch (error) {
      assert.ok(error instanceof RequestError, String(error));
      const rendered = buildChallenge(error, {
        resourceMetadataUrl: 'https://gateway.example/.well-known/oauth-protected-resource/mcp',
        ...(mode === 'off'
          ? {}
          : { dpop: { algorithms: proofs.algorithms, bearer: mode === 'allowed' } }),
      });
      return { code: error.code, challenge: rendered.headers['www-authenticate'] };
    }
  }

  const cases: [
    string,
    DpopMode,
    () => Promise<Partial<PresentationRequest>>,
    RequestErrorCode | 'ok',
    RegExp?,
  ][] = [
    [
      'bound token as Bearer (no downgrade)',
      'allowed',
      async () => ({ authorization: `Bearer ${bound}` }),
      'AuthTokenInvalid',
      /^Bearer error="invalid_token"/,
    ],
    [
      'bound token as Bearer with a proof too',
      'allowed',
      async () => ({ authorization: `Bearer ${bound}`, dpop: await proof({}, bound) }),
      'AuthTokenInvalid',
    ],
    [
      'bound token with DPoP off',
      'off',
      async () => ({ authorization: `Bearer ${bound}` }),
      'AuthTokenInvalid',
    ],
    [
      'DPoP scheme with DPoP off',
      'off',
      async () => ({ authorization: `DPoP ${bound}`, dpop: await proof({}, bound) }),
      'AuthInvalidRequest',
    ],
    [
      'bound token, no proof',
      'allowed',
      async () => ({ authorization: `DPoP ${bound}` }),
      'AuthDpopProofInvalid',
      /DPoP algs="[^"]+", error="invalid_dpop_proof"/,
    ],
    [
      'bound token, proof by another key',
      'allowed',
      async () => ({ authorization: `DPoP ${bound}`, dpop: await proof({ key: other }, bound) }),
      'AuthTokenInvalid',
      /DPoP algs="[^"]+", error="invalid_token"/,
    ],
    [
      'bound token, proof for another URL',
      'allowed',
      async () => ({
        authorization: `DPoP ${bound}`,
        dpop: await proof({ claims: { htu: 'https://gateway.example/other' } }, bound),
      }),
      'AuthDpopProofInvalid',
    ],
    [
      'bound token, proof for another method',
      'allowed',
      async () => ({
        authorization: `DPoP ${bound}`,
        dpop: await proof({ claims: { htm: 'GET' } }, bound),
      }),
      'AuthDpopProofInvalid',
    ],
    [
      'bound token, wrong ath',
      'allowed',
      async () => ({ authorization: `DPoP ${bound}`, dpop: await proof({}, plain) }),
      'AuthDpopProofInvalid',
    ],
    [
      'bound token, stale iat',
      'allowed',
      async () => ({
        authorization: `DPoP ${bound}`,
        dpop: await proof({ claims: { iat: NOW - 3600 } }, bound),
      }),
      'AuthDpopProofInvalid',
    ],
    [
      'unbound token with the DPoP scheme',
      'allowed',
      async () => ({ authorization: `DPoP ${plain}`, dpop: await proof({}, plain) }),
      'AuthTokenInvalid',
    ],
    [
      'plain Bearer where DPoP is required',
      'required',
      async () => ({ authorization: `Bearer ${plain}` }),
      'AuthTokenInvalid',
      /^DPoP algs="[^"]+", error="invalid_token"/,
    ],
    [
      'token bound by mTLS (x5t#S256)',
      'allowed',
      async () => ({ authorization: `DPoP ${mtls}`, dpop: await proof({}, mtls) }),
      'AuthTokenInvalid',
    ],
    [
      'no Authorization header',
      'allowed',
      async () => ({}),
      'AuthTokenMissing',
      /^Bearer scope|^Bearer resource_metadata="[^"]+", DPoP algs="[^"]+", resource_metadata/,
    ],
    [
      'plain Bearer where DPoP is allowed (positive control)',
      'allowed',
      async () => ({ authorization: `Bearer ${plain}` }),
      'ok',
    ],
    [
      'bound token with its proof where DPoP is required (positive control)',
      'required',
      async () => ({ authorization: `DPoP ${bound}`, dpop: await proof({}, bound) }),
      'ok',
    ],
    [
      'bound token with its proof (positive control)',
      'allowed',
      async () => ({ authorization: `dpop ${bound}`, dpop: await proof({}, bound) }),
      'ok',
    ],
  ];
  for (const [name, mode, make, expected, challenge] of cases) {
    test(name, async () => {
      const result = await present(mode, await make());
      assert.equal(result.code, expected);
      if (challenge !== undefined) assert.match(result.challenge ?? '', challenge);
      if (expected === 'ok') assert.equal(result.constrained, name.includes('proof'));
    });
  }
});
