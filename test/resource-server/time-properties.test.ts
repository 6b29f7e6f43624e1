import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RequestError } from '../../src/errors/index.ts';
import {
  buildKeySet,
  createAccessTokenVerifier,
  createStaticKeySource,
  type KeySource,
} from '../../src/resource-server/index.ts';
import { generateKey, token } from '../helpers/tokens.ts';
import {
  ALLOWED_SCOPES,
  AUDIENCE,
  claims,
  ISSUER,
  NOW,
  TOKEN_ID_SECRET,
} from '../helpers/verifier-fixture.ts';

/*
 * Property tests for the time claims around the skew boundary (JWT-21, JWT-24 in
 * docs/security-cases.md; the method of jose's test/jwt/property.test.ts). The rule, as jose states
 * it: expired when exp <= now - skew; not yet valid when nbf > now + skew; iat in the future when
 * iat > now + skew. Skews above 300 s behave as 300 s.
 */

const key = generateKey('ES256', 'prop-1');
let keys: KeySource | undefined;
async function keySource(): Promise<KeySource> {
  keys ??= createStaticKeySource(await buildKeySet({ keys: [key.jwk] }, ['ES256'], undefined));
  return keys;
}

async function verifierAt(nowSeconds: number, skew: number, cache = false) {
  const clock = { now: nowSeconds * 1000 };
  const verifier = createAccessTokenVerifier({
    issuer: ISSUER,
    audiences: [AUDIENCE],
    algorithms: ['ES256'],
    tokenIdSecret: TOKEN_ID_SECRET,
    allowedScopes: ALLOWED_SCOPES,
    clockSkewSeconds: skew,
    keys: await keySource(),
    cache: cache ? {} : false,
    now: () => clock.now,
  });
  return { verifier, clock };
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof RequestError) return error.code;
    throw error;
  }
}

const skews = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 301, max: 100_000 }));
const offsets = fc.integer({ min: -3, max: 3 });
/** Sub-second position of the clock: the rule compares whole seconds, like jose. */
const millis = fc.integer({ min: 0, max: 999 });

describe('exp, nbf and iat around the skew boundary (fast-check)', () => {
  test('exp: accepted exactly when exp > now - min(skew, 300)', async () => {
    await fc.assert(
      fc.asyncProperty(skews, offsets, millis, async (skew, offset, ms) => {
        const effective = Math.min(skew, 300);
        const exp = NOW - effective + offset;
        const { verifier, clock } = await verifierAt(NOW, skew);
        clock.now = NOW * 1000 + ms;
        const result = await outcome(verifier.verify(token(key, claims({ exp, iat: exp - 60 }))));
        assert.equal(result, offset > 0 ? 'ok' : 'AuthTokenExpired');
      }),
      { numRuns: 300 },
    );
  });

  test('nbf: accepted exactly when nbf <= now + min(skew, 300)', async () => {
    await fc.assert(
      fc.asyncProperty(skews, offsets, millis, async (skew, offset, ms) => {
        const nbf = NOW + Math.min(skew, 300) + offset;
        const { verifier, clock } = await verifierAt(NOW, skew);
        clock.now = NOW * 1000 + ms;
        const result = await outcome(
          verifier.verify(token(key, claims({ nbf, iat: undefined, exp: nbf + 600 }))),
        );
        assert.equal(result, offset <= 0 ? 'ok' : 'AuthTokenExpired');
      }),
      { numRuns: 300 },
    );
  });

  test('iat: refused exactly when iat > now + min(skew, 300)', async () => {
    await fc.assert(
      fc.asyncProperty(skews, offsets, async (skew, offset) => {
        const iat = NOW + Math.min(skew, 300) + offset;
        const { verifier } = await verifierAt(NOW, skew);
        const result = await outcome(verifier.verify(token(key, claims({ iat, exp: iat + 600 }))));
        assert.equal(result, offset <= 0 ? 'ok' : 'AuthTokenInvalid');
      }),
      { numRuns: 200 },
    );
  });

  test('a cache hit decides exactly as a cold verification would, at any later time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 1, max: 900 }),
        fc.integer({ min: 0, max: 1200 }),
        async (skew, lifetime, later) => {
          const exp = NOW + lifetime;
          const jwt = token(key, claims({ exp, iat: NOW }));
          const cached = await verifierAt(NOW, skew, true);
          assert.equal(await outcome(cached.verifier.verify(jwt)), 'ok');
          cached.clock.now = (NOW + later) * 1000;
          const cold = await verifierAt(NOW + later, skew);
          assert.equal(
            await outcome(cached.verifier.verify(jwt)),
            await outcome(cold.verifier.verify(jwt)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
