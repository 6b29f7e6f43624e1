/**
 * ID token validation (OpenID Connect Core §3.1.3.7), one named case per way a token can be
 * wrong, each refused with FederationIdTokenInvalid; the table ends with a positive control.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import { RequestError } from '../../src/errors/index.ts';
import { type ProviderFixture, providerFor, startProviderFixture } from './provider-fixture.ts';

const NONCE = 'the-nonce-of-this-sign-in';

describe('ID token validation', () => {
  let op: ProviderFixture;
  before(async () => {
    op = await startProviderFixture();
  });
  after(async () => {
    await op.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (): JWTPayload => ({
    iss: op.issuer,
    sub: '248289761001',
    aud: 'portcullis',
    iat: now(),
    exp: now() + 300,
    nonce: NONCE,
  });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

  const CASES: {
    name: string;
    token: () => Promise<string>;
    problem: RegExp;
    config?: Record<string, unknown>;
  }[] = [
    {
      name: 'wrong nonce (a replayed or injected token)',
      token: () => op.sign({ ...claims(), nonce: 'another' }),
      problem: /nonce/,
    },
    {
      name: 'no nonce',
      token: () => {
        const { nonce: _, ...rest } = claims();
        return op.sign(rest);
      },
      problem: /nonce/,
    },
    {
      name: 'wrong audience',
      token: () => op.sign({ ...claims(), aud: 'someone-else' }),
      problem: /aud/,
    },
    {
      name: 'several audiences without azp',
      token: () => op.sign({ ...claims(), aud: ['portcullis', 'someone-else'] }),
      problem: /azp/,
    },
    {
      name: 'azp naming another client',
      token: () => op.sign({ ...claims(), azp: 'someone-else' }),
      problem: /azp/,
    },
    {
      name: 'wrong issuer',
      token: () => op.sign({ ...claims(), iss: 'https://impostor.example' }),
      problem: /issued by/,
    },
    {
      name: 'expired',
      token: () => op.sign({ ...claims(), iat: now() - 3600, exp: now() - 600 }),
      problem: /expired/,
    },
    {
      name: 'no iat',
      token: () => {
        const { iat: _, ...rest } = claims();
        return op.sign(rest);
      },
      problem: /iat/,
    },
    {
      name: 'no sub',
      token: () => {
        const { sub: _, ...rest } = claims();
        return op.sign(rest);
      },
      problem: /sub/,
    },
    {
      name: 'signed by a key the provider does not publish (same kid)',
      token: () => op.sign(claims(), { key: other }),
      problem: /signature/,
    },
    {
      name: 'unknown key id',
      token: () => op.sign(claims(), { key: other, kid: 'not-published' }),
      problem: /key the provider does not publish/,
    },
    {
      name: 'algorithm outside id_token_algorithms',
      token: () => op.sign(claims()),
      config: { id_token_algorithms: ['ES256'] },
      problem: /algorithm/,
    },
    {
      name: 'ES256 header on an RSA key set',
      token: () => op.sign(claims(), { alg: 'ES256', key: ec }),
      problem: /key the provider does not publish|signature|not valid/,
    },
    {
      name: 'unsigned (alg none)',
      token: async () =>
        `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`,
      problem: /not valid|algorithm|cannot be verified/,
    },
  ];

  for (const entry of CASES) {
    it(`refuses: ${entry.name}`, async () => {
      const provider = providerFor(op.issuer, entry.config ?? {});
      const token = await entry.token();
      await assert.rejects(provider.validateIdToken(token, NONCE), (error: unknown) => {
        assert.ok(error instanceof RequestError);
        assert.equal(error.code, 'FederationIdTokenInvalid');
        assert.equal(error.status, 502);
        assert.match(error.message, entry.problem);
        return true;
      });
    });
  }

  it('positive control: a genuine token with this nonce is accepted', async () => {
    const provider = providerFor(op.issuer);
    const payload = await provider.validateIdToken(
      await op.sign({ ...claims(), azp: 'portcullis' }),
      NONCE,
    );
    assert.equal(payload.sub, '248289761001');
  });
});
