/**
 * The introspection verifier fails closed at construction: an incomplete policy (no endpoint,
 * no caller credentials, no issuer, no audience, a short token-id secret) is a TypeError naming
 * what is missing, never a verifier that would accept tokens. Positive control last.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  createIntrospectionVerifier,
  type IntrospectionVerifierOptions,
} from '../../src/resource-server/index.ts';

const valid: IntrospectionVerifierOptions = {
  url: 'https://issuer.example/introspect',
  clientId: 'gateway',
  clientSecret: 'gateway-secret',
  issuer: 'https://issuer.example',
  audiences: ['https://gateway.example/mcp'],
  allowedScopes: ['files:read'],
  tokenIdSecret: Buffer.alloc(32, 7),
  fetch: createGuardedFetch({ allowLoopback: false }),
};

describe('introspection verifier options', () => {
  const refusals: [string, Partial<Record<keyof IntrospectionVerifierOptions, unknown>>, RegExp][] =
    [
      ['no URL', { url: 'not a url' }, /introspection url/],
      ['no client id', { clientId: '' }, /client id and secret/],
      ['no client secret', { clientSecret: '' }, /client id and secret/],
      ['no issuer', { issuer: '' }, /issuer is required/],
      ['an issuer that is not a string', { issuer: 7 }, /issuer is required/],
      ['no audience', { audiences: [] }, /audiences is required/],
      [
        'audiences not a list',
        { audiences: 'https://gateway.example/mcp' },
        /audiences is required/,
      ],
      ['a short token-id secret', { tokenIdSecret: Buffer.alloc(8) }, /tokenIdSecret/],
      ['a token-id secret that is not bytes', { tokenIdSecret: 'x'.repeat(64) }, /tokenIdSecret/],
    ];
  for (const [name, change, message] of refusals) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => createIntrospectionVerifier({ ...valid, ...change } as IntrospectionVerifierOptions),
        (error: unknown) => error instanceof TypeError && message.test(error.message),
      );
    });
  }

  it('positive control: complete options build a verifier, odd cache settings are clamped', () => {
    const verifier = createIntrospectionVerifier({
      ...valid,
      cacheTtlSeconds: Number.NaN,
      negativeCacheTtlSeconds: 10_000,
    });
    assert.equal(typeof verifier.verify, 'function');
  });
});
