/**
 * The JWK checks a key set from the network goes through (JWKS is attacker-reachable input when
 * an issuer is compromised or a URL misconfigured): each unusable key is dropped with its
 * reason, private members are refused outright, and arbitrary objects never crash the check.
 * The table ends with positive controls for each key type.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkJwk, PrivateKeyMaterialError } from '../../src/resource-server/key-set.ts';
import { fuzzOptions } from '../fuzz/arbitraries.ts';
import { testKeys } from '../helpers/verifier-fixture.ts';

const ALL = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const b64 = (bytes: number, fill = 1) => Buffer.alloc(bytes, fill).toString('base64url');

describe('JWK checks', () => {
  const keys = testKeys();
  const rsa = keys.rs.jwk as Record<string, unknown>;
  const ec = keys.es.jwk as Record<string, unknown>;
  const ed = keys.ed.jwk as Record<string, unknown>;

  const dropped: [string, unknown, RegExp][] = [
    ['not an object', 'a string', /not a JSON object/],
    ['an array', [rsa], /not a JSON object/],
    ['null', null, /not a JSON object/],
    ['kid not a string', { ...rsa, kid: 7 }, /kid is not a string/],
    ['kid too long', { ...rsa, kid: 'k'.repeat(2000) }, /kid is not a string/],
    ['use enc', { ...rsa, use: 'enc' }, /use is not "sig"/],
    ['key_ops without verify', { ...rsa, key_ops: ['encrypt'] }, /key_ops/],
    ['key_ops not an array', { ...rsa, key_ops: 'verify' }, /key_ops/],
    ['alg not a string', { ...rsa, alg: 256 }, /alg is not a string/],
    ['symmetric key', { kty: 'oct', kid: 'x' }, /symmetric/],
    ['unknown key type', { kty: 'XYZ' }, /unsupported key type/],
    ['RSA without n', { ...rsa, n: undefined }, /modulus missing/],
    ['RSA modulus not base64url', { ...rsa, n: 'a+b/' }, /modulus missing/],
    ['RSA exponent 3', { ...rsa, e: 'Aw' }, /exponent/],
    ['RSA 1024-bit modulus', { ...rsa, n: b64(128, 0xff) }, /1024 bits/],
    ['RSA modulus of zeros', { ...rsa, n: b64(256, 0) }, /0 bits/],
    ['EC unknown curve', { ...ec, crv: 'secp256k1' }, /unsupported EC curve/],
    ['EC short x', { ...ec, x: b64(31) }, /not 32 bytes/],
    ['EC missing y', { ...ec, y: undefined }, /not 32 bytes/],
    ['OKP X25519', { ...ed, crv: 'X25519' }, /unsupported OKP curve/],
    ['Ed25519 short key', { ...ed, x: b64(31) }, /not 32 bytes/],
    ['alg that does not fit the key', { ...ec, alg: 'RS256' }, /does not fit/],
    ['no configured algorithm for the key', { ...ed, alg: 'EdDSA' }, /no configured algorithm/],
  ];
  for (const [name, value, reason] of dropped) {
    it(`drops ${name}`, () => {
      const algorithms = name.startsWith('no configured') ? ['RS256'] : ALL;
      const result = checkJwk(value, algorithms);
      assert.ok('dropped' in result, `kept: ${JSON.stringify(result)}`);
      assert.match(result.dropped, reason);
    });
  }

  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
    it(`refuses a key carrying private member ${member}`, () => {
      assert.throws(() => checkJwk({ ...rsa, [member]: 'AQAB' }, ALL), PrivateKeyMaterialError);
    });
  }

  it('positive controls: RSA (all RSA algorithms configured), EC P-256, Ed25519 are kept', () => {
    const kept = [checkJwk(rsa, ALL), checkJwk(ec, ALL), checkJwk(ed, ALL)];
    for (const result of kept) assert.ok(!('dropped' in result), JSON.stringify(result));
    const rsaNoAlg = checkJwk({ ...rsa, alg: undefined }, ALL);
    assert.ok('algs' in rsaNoAlg);
    assert.deepEqual(rsaNoAlg.algs, ['RS256', 'PS256']);
  });

  it('fuzz: any object is kept with a configured algorithm, dropped with a reason, or refused as private', () => {
    const jwkLike = fc.record(
      {
        kty: fc.oneof(fc.constantFrom('RSA', 'EC', 'OKP', 'oct'), fc.jsonValue({ maxDepth: 1 })),
        crv: fc.oneof(fc.constantFrom('P-256', 'P-384', 'P-521', 'Ed25519', 'X25519'), fc.string()),
        n: fc.oneof(fc.constant(rsa.n), fc.string({ maxLength: 400 })),
        e: fc.constantFrom('AQAB', 'Aw', '', 'AQAB='),
        x: fc.oneof(fc.constant(ec.x), fc.constant(ed.x), fc.string({ maxLength: 60 })),
        y: fc.oneof(fc.constant(ec.y), fc.string({ maxLength: 60 })),
        kid: fc.jsonValue({ maxDepth: 1 }),
        use: fc.constantFrom('sig', 'enc', 7),
        alg: fc.oneof(fc.constantFrom(...ALL, 'HS256', 'none'), fc.jsonValue({ maxDepth: 1 })),
        key_ops: fc.jsonValue({ maxDepth: 2 }),
        d: fc.string(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(jwkLike, fc.jsonValue({ maxDepth: 3 })), (value) => {
        try {
          const result = checkJwk(value, ALL);
          if ('dropped' in result) assert.equal(typeof result.dropped, 'string');
          else assert.ok(result.algs.length > 0 && result.algs.every((alg) => ALL.includes(alg)));
        } catch (error) {
          assert.ok(error instanceof PrivateKeyMaterialError, String(error));
        }
      }),
      fuzzOptions(),
    );
  });
});
