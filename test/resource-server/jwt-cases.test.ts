import assert from 'node:assert/strict';
import { createPublicKey, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { RequestErrorCode } from '../../src/errors/index.ts';
import {
  createAccessTokenVerifier,
  createStaticKeySource,
  KeySet,
} from '../../src/resource-server/index.ts';
import { b64url, generateKey, hs256, rawToken, signature, token } from '../helpers/tokens.ts';
import type { Fixture } from '../helpers/verifier-fixture.ts';
import {
  AUDIENCE,
  claims,
  createFixture,
  ISSUER,
  NOW,
  rejectsWith,
  testKeys,
} from '../helpers/verifier-fixture.ts';

/*
 * The JWT-xx cases of docs/security-cases.md: one named case per attack, each asserting the error
 * code. Every table ends with a positive control built the same way, which must verify.
 */

type Case = readonly [id: string, build: () => string, code: RequestErrorCode];

function runTable(
  title: string,
  fixture: () => Fixture,
  cases: readonly Case[],
  control: () => string,
): void {
  describe(title, () => {
    for (const [id, build, code] of cases) {
      test(id, async () => {
        await rejectsWith(fixture().verifier.verify(build()), code);
      });
    }
    test('positive control: the same construction, made valid, verifies', async () => {
      const verified = await fixture().verifier.verify(control());
      assert.equal(verified.subject, 'alice');
    });
  });
}

const keys = testKeys();
const header = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ alg: 'RS256', kid: 'rs-1', ...extra });
const payload = (extra: Record<string, unknown> = {}) => JSON.stringify(claims(extra));
const unsigned = (headerText: string, payloadText: string, sig = '') =>
  `${b64url(headerText)}.${b64url(payloadText)}.${sig}`;

let fixture: Fixture;
let strictTyp: Fixture;
let badKeys: Fixture;
let lifetime: Fixture;
const weak = generateKey('RS256', 'weak-1024', { modulusLength: 1024 });
const oddExponent = generateKey('RS256', 'e-3', { publicExponent: 3 });
const encKey = generateKey('RS256', 'enc-1');
const opsKey = generateKey('RS256', 'ops-1');
const p384 = generateKey('ES384', 'p384-1');
const twin = generateKey('RS256', 'twin');
const twinToo = generateKey('RS256', 'twin');
const noKidA = generateKey('ES256', 'unused-a');
const offCurve = generateKey('ES256', 'off-curve');

before(async () => {
  fixture = await createFixture();
  strictTyp = await createFixture({ policy: { requireAtJwtTyp: true } });
  lifetime = await createFixture({ policy: { maxTokenLifetimeSeconds: 3600 } });
  const { kid: _a, ...noKidJwk } = noKidA.jwk;
  const { kid: _b, ...noKidJwk2 } = keys.es.jwk;
  const offCurveJwk = { ...offCurve.jwk, y: b64url(Buffer.alloc(32, 7)) };
  badKeys = await createFixture({
    jwks: {
      keys: [
        keys.rs.jwk,
        weak.jwk,
        oddExponent.jwk,
        { ...encKey.jwk, use: 'enc' },
        { ...opsKey.jwk, use: undefined, key_ops: ['encrypt'] },
        { ...p384.jwk, alg: 'ES256' },
        twin.jwk,
        twinToo.jwk,
        noKidJwk,
        noKidJwk2,
        offCurveJwk,
        { ...keys.ps.jwk, alg: 'RS256', kid: 'ps-as-rs' },
      ],
    },
  });
  await Promise.all([fixture, strictTyp, badKeys, lifetime].map((f) => f.verifier.warm()));
});

after(async () => {
  await Promise.all([fixture.close(), strictTyp.close(), badKeys.close(), lifetime.close()]);
});

runTable(
  'JWT-01..03, 37: algorithm comes from configuration, never from the token',
  () => fixture,
  [
    [
      'JWT-01 alg none, empty signature',
      () => unsigned(header({ alg: 'none' }), payload()),
      'AuthTokenInvalid',
    ],
    [
      'JWT-01 alg none with a signature',
      () => rawToken(header({ alg: 'none' }), payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-01 alg None',
      () => rawToken(header({ alg: 'None' }), payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-01 alg NONE',
      () => rawToken(header({ alg: 'NONE' }), payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-01 alg nOnE',
      () => rawToken(header({ alg: 'nOnE' }), payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-01 alg missing',
      () => rawToken(JSON.stringify({ kid: 'rs-1' }), payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-02 HS256 keyed with the RSA public key PEM',
      () => {
        const pem = createPublicKey(keys.rs.privateKey).export({ type: 'spki', format: 'pem' });
        const input = `${b64url(header({ alg: 'HS256' }))}.${b64url(payload())}`;
        return `${input}.${hs256(pem, input)}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-02 HS256 keyed with the JWK JSON',
      () => {
        const input = `${b64url(header({ alg: 'HS256' }))}.${b64url(payload())}`;
        return `${input}.${hs256(JSON.stringify(keys.rs.jwk), input)}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-03 ES256 header naming the RSA key',
      () => rawToken(header({ alg: 'ES256' }), payload(), keys.es),
      'AuthTokenInvalid',
    ],
    [
      'JWT-03 PS256 header naming a key published for RS256',
      () => rawToken(header({ alg: 'PS256' }), payload(), keys.rs, 'PS256'),
      'AuthTokenInvalid',
    ],
    [
      'JWT-04 RS256 header naming the PS256 key',
      () => rawToken(JSON.stringify({ alg: 'RS256', kid: 'ps-1' }), payload(), keys.ps, 'RS256'),
      'AuthTokenInvalid',
    ],
    [
      'JWT-37 alg Ed25519 (not on the allow-list)',
      () => rawToken(JSON.stringify({ alg: 'Ed25519', kid: 'ed-1' }), payload(), keys.ed, 'EdDSA'),
      'AuthTokenInvalid',
    ],
    [
      'JWT-37 alg RS384 (not configured)',
      () => rawToken(header({ alg: 'RS384' }), payload(), keys.rs),
      'AuthTokenInvalid',
    ],
  ],
  () => rawToken(header(), payload(), keys.rs),
);

runTable(
  'JWT-05, 06, 34, 36, 38: keys are checked on load and chosen strictly',
  () => badKeys,
  [
    ['JWT-05 key published with use "enc"', () => token(encKey, claims()), 'AuthTokenInvalid'],
    ['JWT-05 key_ops without "verify"', () => token(opsKey, claims()), 'AuthTokenInvalid'],
    ['JWT-06 two keys share the kid', () => token(twin, claims()), 'AuthTokenInvalid'],
    [
      'JWT-06 two keys share the kid (the other one)',
      () => token(twinToo, claims()),
      'AuthTokenInvalid',
    ],
    [
      'JWT-06 no kid and two candidate keys',
      () => token(noKidA, claims(), { kid: undefined }),
      'AuthTokenInvalid',
    ],
    ['JWT-34 RSA key of 1024 bits', () => token(weak, claims()), 'AuthTokenInvalid'],
    ['JWT-34 RSA exponent 3', () => token(oddExponent, claims()), 'AuthTokenInvalid'],
    [
      'JWT-36 P-384 key published for ES256',
      () => rawToken(JSON.stringify({ alg: 'ES256', kid: 'p384-1' }), payload(), p384, 'ES384'),
      'AuthTokenInvalid',
    ],
    ['JWT-36 EC point not on the curve', () => token(offCurve, claims()), 'AuthTokenInvalid'],
    [
      'JWT-04 key published with alg RS256 used for PS256',
      () =>
        rawToken(JSON.stringify({ alg: 'PS256', kid: 'ps-as-rs' }), payload(), keys.ps, 'PS256'),
      'AuthTokenInvalid',
    ],
    [
      'JWT-08 kid with path traversal',
      () => token(keys.rs, claims(), { kid: '../../../dev/null' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-08 kid with SQL',
      () => token(keys.rs, claims(), { kid: "' OR 1=1 --" }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-08 kid __proto__',
      () => token(keys.rs, claims(), { kid: '__proto__' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-08 kid with control characters',
      () => token(keys.rs, claims(), { kid: 'rs-1\u0000\n' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-08 kid of 4 KiB',
      () => token(keys.rs, claims(), { kid: 'k'.repeat(4096) }),
      'AuthTokenInvalid',
    ],
    ['JWT-08 kid not a string', () => token(keys.rs, claims(), { kid: 1 }), 'AuthTokenInvalid'],
  ],
  () => token(keys.rs, claims()),
);

describe('JWT-09, 10: keys are never taken from the token', () => {
  const attackerJwk = testKeys().attacker.jwk;
  const cases: Case[] = [
    [
      'JWT-09 jku to the attacker, signed by the attacker with a trusted kid',
      () => token(keys.attacker, claims(), { jku: `${fixture.server.origin}/attacker-jwks` }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-09 x5u to the metadata address',
      () => token(keys.attacker, claims(), { x5u: 'http://169.254.169.254/cert.pem' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-10 embedded jwk carrying the attacker key',
      () => token(keys.attacker, claims(), { jwk: attackerJwk }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-10 embedded jwk without kid',
      () => token(keys.attacker, claims(), { jwk: attackerJwk, kid: undefined }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-10 x5c carrying an attacker certificate chain',
      () => token(keys.attacker, claims(), { x5c: ['MIIBIjAN'] }),
      'AuthTokenInvalid',
    ],
  ];
  for (const [id, build, code] of cases) {
    test(`${id}, with no outbound request`, async () => {
      const requestsBefore = fixture.server.requests();
      await rejectsWith(fixture.verifier.verify(build()), code);
      assert.equal(fixture.server.hits.get('/attacker-jwks') ?? 0, 0);
      // The key source is cooling down, so even the JWKS was not fetched again.
      assert.equal(fixture.server.requests(), requestsBefore);
    });
  }
  test('positive control: the trusted key with the same header members verifies (they are ignored)', async () => {
    const verified = await fixture.verifier.verify(
      token(keys.rs, claims(), { jku: 'https://attacker.example/jwks', jwk: keys.rs.jwk }),
    );
    assert.equal(verified.subject, 'alice');
  });
});

runTable(
  'JWT-11..13, 29, 30, 40: the header and the shape',
  () => fixture,
  [
    [
      'JWT-11 crit with an unknown extension',
      () => token(keys.rs, claims(), { crit: ['x-unknown'], 'x-unknown': 1 }),
      'AuthTokenInvalid',
    ],
    ['JWT-11 crit empty', () => token(keys.rs, claims(), { crit: [] }), 'AuthTokenInvalid'],
    [
      'JWT-11 crit naming alg',
      () => token(keys.rs, claims(), { crit: ['alg'] }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-12 b64 false',
      () => token(keys.rs, claims(), { b64: false, crit: ['b64'] }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-13 typ dpop+jwt',
      () => token(keys.rs, claims(), { typ: 'dpop+jwt' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-13 typ secevent+jwt',
      () => token(keys.rs, claims(), { typ: 'secevent+jwt' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-13 typ logout+jwt',
      () => token(keys.rs, claims(), { typ: 'logout+jwt' }),
      'AuthTokenInvalid',
    ],
    ['JWT-13 typ not a string', () => token(keys.rs, claims(), { typ: 7 }), 'AuthTokenInvalid'],
    [
      'JWT-40 nested JWT (cty JWT)',
      () => token(keys.rs, claims(), { cty: 'JWT' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-29 two segments',
      () => token(keys.rs, claims()).split('.').slice(0, 2).join('.'),
      'AuthTokenInvalid',
    ],
    ['JWT-29 four segments', () => `${token(keys.rs, claims())}.x`, 'AuthTokenInvalid'],
    ['JWT-29 five segments (JWE)', () => `${token(keys.rs, claims())}.x.y`, 'AuthTokenInvalid'],
    [
      'JWT-29 empty payload segment',
      () => {
        const [h, , s] = token(keys.rs, claims()).split('.');
        return `${h}..${s}`;
      },
      'AuthTokenInvalid',
    ],
    ['JWT-29 leading space', () => ` ${token(keys.rs, claims())}`, 'AuthTokenInvalid'],
    ['JWT-29 trailing newline', () => `${token(keys.rs, claims())}\n`, 'AuthTokenInvalid'],
    [
      'JWT-29 padding appended (RV-05 shape)',
      () => `${token(keys.rs, claims())}==`,
      'AuthTokenInvalid',
    ],
    [
      'JWT-29 a standard-base64 character',
      () => {
        const good = token(keys.rs, claims());
        return `${good.slice(0, 12)}+${good.slice(13)}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-29 JWS JSON serialization (flattened)',
      () => {
        const [h, p, s] = token(keys.rs, claims()).split('.');
        return JSON.stringify({ protected: h, payload: p, signature: s });
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-29 non-canonical base64url in the signature',
      () => {
        const good = token(keys.rs, claims());
        // 256-byte signature: 342 characters, 4 unused low bits in the last one; flip one of them.
        const last = good.at(-1) ?? 'A';
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        return `${good.slice(0, -1)}${alphabet[alphabet.indexOf(last) ^ 1]}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-30 8 KiB + 1',
      () => token(keys.rs, claims({ pad: 'p'.repeat(8192) })).slice(0, 8193),
      'AuthTokenInvalid',
    ],
    [
      'JWT-30 64 KiB',
      () => token(keys.rs, claims({ pad: 'p'.repeat(64 * 1024) })),
      'AuthTokenInvalid',
    ],
    ['JWT-30 1 MiB', () => 'a'.repeat(1024 * 1024), 'AuthTokenInvalid'],
    ['empty string', () => '', 'AuthTokenInvalid'],
  ],
  () => token(keys.rs, claims(), { typ: 'JWT' }),
);

runTable(
  'JWT-13 with the at+jwt policy on',
  () => strictTyp,
  [
    ['JWT-13 typ JWT', () => token(keys.rs, claims(), { typ: 'JWT' }), 'AuthTokenInvalid'],
    ['JWT-13 typ missing', () => token(keys.rs, claims(), { typ: undefined }), 'AuthTokenInvalid'],
    [
      'JWT-13 typ dpop+jwt',
      () => token(keys.rs, claims(), { typ: 'dpop+jwt' }),
      'AuthTokenInvalid',
    ],
    [
      'JWT-13 typ secevent+jwt',
      () => token(keys.rs, claims(), { typ: 'secevent+jwt' }),
      'AuthTokenInvalid',
    ],
  ],
  () => token(keys.rs, claims(), { typ: 'application/AT+JWT' }),
);

runTable(
  'JWT-14..18, 20, 22, 24: claims',
  () => fixture,
  [
    [
      'JWT-14 ID token (aud is the client id)',
      () => token(keys.rs, claims({ aud: 'client-1' }), { typ: 'JWT' }),
      'AuthInvalidAudience',
    ],
    [
      'JWT-14 DPoP proof presented as access token',
      () =>
        token(
          keys.rs,
          { htm: 'POST', htu: AUDIENCE, iat: NOW, jti: 'p' },
          { typ: 'dpop+jwt', jwk: keys.rs.jwk },
        ),
      'AuthTokenInvalid',
    ],
    [
      'JWT-15 aud another resource',
      () => token(keys.rs, claims({ aud: 'https://other.example/mcp' })),
      'AuthInvalidAudience',
    ],
    [
      'JWT-15 aud with a trailing slash',
      () => token(keys.rs, claims({ aud: `${AUDIENCE}/` })),
      'AuthInvalidAudience',
    ],
    [
      'JWT-15 aud with an upper-case host',
      () => token(keys.rs, claims({ aud: 'https://GATEWAY.example/mcp' })),
      'AuthInvalidAudience',
    ],
    ['JWT-15 aud []', () => token(keys.rs, claims({ aud: [] })), 'AuthInvalidAudience'],
    ['JWT-15 aud null', () => token(keys.rs, claims({ aud: null })), 'AuthInvalidAudience'],
    ['JWT-15 aud missing', () => token(keys.rs, claims({ aud: undefined })), 'AuthInvalidAudience'],
    [
      'JWT-15 aud as an object',
      () => token(keys.rs, claims({ aud: { 0: AUDIENCE } })),
      'AuthInvalidAudience',
    ],
    [
      'JWT-18 iss mismatch',
      () => token(keys.rs, claims({ iss: 'https://evil.example' })),
      'AuthInvalidIssuer',
    ],
    [
      'JWT-18 iss with a trailing slash',
      () => token(keys.rs, claims({ iss: `${ISSUER}/` })),
      'AuthInvalidIssuer',
    ],
    [
      'JWT-18 iss as an array',
      () => token(keys.rs, claims({ iss: [ISSUER] })),
      'AuthInvalidIssuer',
    ],
    ['JWT-18 iss missing', () => token(keys.rs, claims({ iss: undefined })), 'AuthInvalidIssuer'],
    ['JWT-20 no exp', () => token(keys.rs, claims({ exp: undefined })), 'AuthTokenInvalid'],
    [
      'JWT-22 exp as a string',
      () => token(keys.rs, claims({ exp: '9999999999' })),
      'AuthTokenInvalid',
    ],
    ['JWT-22 exp true', () => token(keys.rs, claims({ exp: true })), 'AuthTokenInvalid'],
    ['JWT-22 exp null', () => token(keys.rs, claims({ exp: null })), 'AuthTokenInvalid'],
    ['JWT-22 exp []', () => token(keys.rs, claims({ exp: [] })), 'AuthTokenInvalid'],
    ['JWT-22 exp {}', () => token(keys.rs, claims({ exp: {} })), 'AuthTokenInvalid'],
    [
      'JWT-22 exp not an integer',
      () => token(keys.rs, claims({ exp: NOW + 600.5 })),
      'AuthTokenInvalid',
    ],
    [
      'JWT-22 exp 1e400 (Infinity)',
      () => rawToken(header(), payload().replace(`"exp":${NOW + 600}`, '"exp":1e400'), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-22 nbf as a string',
      () => token(keys.rs, claims({ nbf: String(NOW) })),
      'AuthTokenInvalid',
    ],
    ['JWT-22 iat null', () => token(keys.rs, claims({ iat: null })), 'AuthTokenInvalid'],
    [
      'JWT-21 exp exactly now - skew',
      () => token(keys.rs, claims({ exp: NOW - 60 })),
      'AuthTokenExpired',
    ],
    [
      'JWT-24 nbf beyond the skew',
      () => token(keys.rs, claims({ nbf: NOW + 61 })),
      'AuthTokenExpired',
    ],
    [
      'JWT-24 iat beyond the skew',
      () => token(keys.rs, claims({ iat: NOW + 61 })),
      'AuthTokenInvalid',
    ],
    ['sub missing', () => token(keys.rs, claims({ sub: undefined })), 'AuthTokenInvalid'],
    ['sub empty', () => token(keys.rs, claims({ sub: '' })), 'AuthTokenInvalid'],
    ['jti not a string', () => token(keys.rs, claims({ jti: 5 })), 'AuthTokenInvalid'],
    ['scope as a number', () => token(keys.rs, claims({ scope: 5 })), 'AuthTokenInvalid'],
    [
      'scp with a non-string',
      () => token(keys.rs, claims({ scope: undefined, scp: ['files:read', 1] })),
      'AuthTokenInvalid',
    ],
    [
      'DPOP-01 sender-constrained token (cnf.jkt) as bearer',
      () => token(keys.rs, claims({ cnf: { jkt: 'abc' } })),
      'AuthTokenInvalid',
    ],
  ],
  () =>
    token(
      keys.rs,
      claims({ aud: ['https://other.example', AUDIENCE], nbf: NOW + 59, iat: NOW + 59 }),
    ),
);

runTable(
  'JWT-25..27, 31, 32, 45: bytes and signatures',
  () => fixture,
  [
    ['JWT-25 payload []', () => rawToken(header(), '[]', keys.rs), 'AuthTokenInvalid'],
    ['JWT-25 payload 1', () => rawToken(header(), '1', keys.rs), 'AuthTokenInvalid'],
    ['JWT-25 payload "x"', () => rawToken(header(), '"x"', keys.rs), 'AuthTokenInvalid'],
    ['JWT-25 payload null', () => rawToken(header(), 'null', keys.rs), 'AuthTokenInvalid'],
    ['JWT-25 payload not JSON', () => rawToken(header(), '{"sub":', keys.rs), 'AuthTokenInvalid'],
    [
      'JWT-25 header not JSON',
      () => rawToken('{"alg":"RS256",', payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    ['JWT-25 header an array', () => rawToken('["RS256"]', payload(), keys.rs), 'AuthTokenInvalid'],
    [
      'JWT-26 duplicate sub',
      () =>
        rawToken(
          header(),
          payload().replace('"sub":"alice"', '"sub":"alice","sub":"admin"'),
          keys.rs,
        ),
      'AuthTokenInvalid',
    ],
    [
      'JWT-26 duplicate sub spelled with an escape',
      () =>
        rawToken(
          header(),
          payload().replace('"sub":"alice"', '"sub":"alice","s\\u0075b":"admin"'),
          keys.rs,
        ),
      'AuthTokenInvalid',
    ],
    [
      'JWT-26 duplicate aud',
      () =>
        rawToken(
          header(),
          payload().replace(
            `"aud":"${AUDIENCE}"`,
            `"aud":"${AUDIENCE}","aud":"https://other.example"`,
          ),
          keys.rs,
        ),
      'AuthTokenInvalid',
    ],
    [
      'JWT-26 duplicate scope',
      () =>
        rawToken(
          header(),
          payload().replace('"scope":', '"scope":"files:write","scope":'),
          keys.rs,
        ),
      'AuthTokenInvalid',
    ],
    [
      'JWT-26 duplicate alg in the header',
      () => rawToken('{"alg":"none","alg":"RS256","kid":"rs-1"}', payload(), keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-27 invalid UTF-8 in the payload',
      () => {
        const input = `${b64url(header())}.${b64url(Buffer.concat([Buffer.from(payload().slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]))}`;
        return `${input}.${signature(keys.rs, input)}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-27 encoded lone surrogate',
      () => {
        const input = `${b64url(header())}.${b64url(Buffer.concat([Buffer.from(payload().slice(0, -1)), Buffer.from([0x2c, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])]))}`;
        return `${input}.${signature(keys.rs, input)}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-27 overlong encoding of "/"',
      () => {
        const input = `${b64url(header())}.${b64url(Buffer.concat([Buffer.from(payload().slice(0, -1)), Buffer.from([0x2c, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])]))}`;
        return `${input}.${signature(keys.rs, input)}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-27 BOM before the payload',
      () => rawToken(header(), `\ufeff${payload()}`, keys.rs),
      'AuthTokenInvalid',
    ],
    [
      'JWT-31 ECDSA r = s = 0',
      () =>
        `${b64url(JSON.stringify({ alg: 'ES256', kid: 'es-1' }))}.${b64url(payload())}.${b64url(Buffer.alloc(64))}`,
      'AuthTokenInvalid',
    ],
    [
      'JWT-32 ECDSA signature in DER',
      () => {
        const input = `${b64url(JSON.stringify({ alg: 'ES256', kid: 'es-1' }))}.${b64url(payload())}`;
        return `${input}.${b64url(sign('sha256', Buffer.from(input), keys.es.privateKey))}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'signature by another key with the trusted kid',
      () => token(keys.attacker, claims()),
      'AuthTokenInvalid',
    ],
    [
      'payload changed after signing',
      () => {
        const [h, , s] = token(keys.rs, claims()).split('.');
        return `${h}.${b64url(payload({ sub: 'admin' }))}.${s}`;
      },
      'AuthTokenInvalid',
    ],
    [
      'JWT-45 expired and badly signed: the signature is judged first',
      () => token(keys.attacker, claims({ exp: NOW - 3600 })),
      'AuthTokenInvalid',
    ],
    [
      'JWT-45 expired and well signed',
      () => token(keys.rs, claims({ exp: NOW - 3600 })),
      'AuthTokenExpired',
    ],
  ],
  () => token(keys.es, claims(), { alg: 'ES256', kid: 'es-1' }),
);

runTable(
  'maximum token lifetime (optional policy)',
  () => lifetime,
  [
    [
      'exp - iat above the maximum',
      () => token(keys.rs, claims({ iat: NOW - 10, exp: NOW + 3600 })),
      'AuthTokenInvalid',
    ],
    [
      'exp further ahead than the maximum, no iat',
      () => token(keys.rs, claims({ iat: undefined, exp: NOW + 3600 + 61 })),
      'AuthTokenInvalid',
    ],
  ],
  () => token(keys.rs, claims({ iat: NOW - 10, exp: NOW + 3590 })),
);

describe('what a verified token yields', () => {
  test('RS256, PS256, ES256 and EdDSA verify, with subject, client, scopes, audience, expiry and token id', async () => {
    for (const key of [keys.rs, keys.ps, keys.es, keys.ed]) {
      const verified = await fixture.verifier.verify(token(key, claims({ jti: `jti-${key.alg}` })));
      assert.equal(verified.subject, 'alice');
      assert.equal(verified.clientId, 'client-1');
      assert.deepEqual(verified.scopes, ['files:read']);
      assert.equal(verified.audience, AUDIENCE);
      assert.equal(verified.expiresAt, NOW + 600);
      assert.match(verified.tokenIdHash, /^[0-9a-f]{64}$/);
      assert.ok(Object.isFrozen(verified) && Object.isFrozen(verified.claims));
    }
  });
  test('scp arrays and azp are understood; unknown scopes are dropped', async () => {
    const verified = await fixture.verifier.verify(
      token(
        keys.rs,
        claims({
          scope: undefined,
          scp: ['files:write', 'admin', 'files:write'],
          client_id: undefined,
          azp: 'app',
        }),
      ),
    );
    assert.deepEqual(verified.scopes, ['files:write']);
    assert.equal(verified.clientId, 'app');
    // Cached results are shared: nested claims are frozen too.
    assert.ok(Object.isFrozen(verified.claims.scp));
  });
  test('JWT-33: the high-S twin of an ECDSA signature verifies, and maps to the same token id', async () => {
    const original = token(keys.es, claims({ jti: 'twin-jti' }));
    const [h, p, s] = original.split('.');
    const bytes = Buffer.from(s ?? '', 'base64url');
    const n = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
    const high = n - BigInt(`0x${bytes.subarray(32).toString('hex')}`);
    const twinSignature = Buffer.concat([
      bytes.subarray(0, 32),
      Buffer.from(high.toString(16).padStart(64, '0'), 'hex'),
    ]);
    const twin = `${h}.${p}.${twinSignature.toString('base64url')}`;
    assert.notEqual(twin, original);
    const [first, second] = [
      await fixture.verifier.verify(original),
      await fixture.verifier.verify(twin),
    ];
    // Anything keyed for revocation or audit uses the token id (jti), not the signature bytes.
    assert.equal(first.tokenIdHash, second.tokenIdHash);
  });
  test('scope matching is exact: case, tabs and prefixes do not match', async () => {
    const verified = await fixture.verifier.verify(
      token(
        keys.rs,
        claims({ scope: 'FILES:READ files:read_all files:read\tfiles:write  files:write' }),
      ),
    );
    assert.deepEqual(verified.scopes, ['files:write']);
  });
  test('the token id is the HMAC of jti, or of the token without one, and never the token', async () => {
    const withJti = await fixture.verifier.verify(token(keys.rs, claims({ jti: 'same' })));
    const again = await fixture.verifier.verify(token(keys.es, claims({ jti: 'same' })));
    assert.equal(withJti.tokenIdHash, again.tokenIdHash);
    const raw = token(keys.rs, claims({ jti: undefined }));
    const without = await fixture.verifier.verify(raw);
    assert.notEqual(without.tokenIdHash, withJti.tokenIdHash);
    assert.ok(!JSON.stringify(without).includes(raw));
  });
  test('error messages never contain the token', async () => {
    const bad = token(keys.attacker, claims());
    const error = await rejectsWith(fixture.verifier.verify(bad), 'AuthTokenInvalid');
    assert.ok(!error.message.includes(bad) && !error.message.includes(bad.split('.')[1] ?? '-'));
  });
  test('the policy cannot be built without issuer, audiences, algorithms or a long secret', () => {
    const base = {
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithms: ['RS256'],
      tokenIdSecret: Buffer.alloc(32, 1),
      allowedScopes: [],
      keys: createStaticKeySource(new KeySet([])),
    };
    assert.ok(createAccessTokenVerifier(base));
    const broken: [string, Record<string, unknown>][] = [
      ['no issuer', { issuer: '' }],
      ['JWT-17 no audience', { audiences: [] }],
      ['no algorithms', { algorithms: [] }],
      ['CF-02 none', { algorithms: ['none'] }],
      ['CF-02 HS256', { algorithms: ['RS256', 'HS256'] }],
      ['short secret', { tokenIdSecret: Buffer.alloc(31, 1) }],
      ['no secret', { tokenIdSecret: undefined }],
      ['no key source', { keys: undefined }],
    ];
    for (const [why, change] of broken) {
      assert.throws(
        () => createAccessTokenVerifier({ ...base, ...change } as typeof base),
        TypeError,
        why,
      );
    }
  });
  test('the skew is clamped to 300 s whatever is passed', async () => {
    const wide = await createFixture({ policy: { clockSkewSeconds: 86_400 } });
    try {
      await wide.verifier.verify(token(keys.rs, claims({ exp: NOW - 299 })));
      await rejectsWith(
        wide.verifier.verify(token(keys.rs, claims({ exp: NOW - 300 }))),
        'AuthTokenExpired',
      );
    } finally {
      await wide.close();
    }
  });
});
