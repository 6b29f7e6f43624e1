import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { type AuthorizationServerMetadata, signingAlgorithm } from '../../src/client/index.ts';
import { isClientError } from '../../src/errors/index.ts';

const pem = (type: 'ec' | 'rsa' | 'ed25519', options: object = {}) =>
  generateKeyPairSync(type as 'ec', options as { namedCurve: string }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;

const metadata = (algs?: string[]): AuthorizationServerMetadata => ({
  issuer: 'https://as.example',
  authorization_endpoint: 'https://as.example/authorize',
  token_endpoint: 'https://as.example/token',
  response_types_supported: ['code'],
  ...(algs ? { token_endpoint_auth_signing_alg_values_supported: algs } : {}),
});

describe('private_key_jwt: the signing algorithm follows the key and the server (RFC 7523)', () => {
  it('EC P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA, RSA → RS256', () => {
    assert.equal(
      signingAlgorithm({ pem: pem('ec', { namedCurve: 'P-256' }) }, metadata()),
      'ES256',
    );
    assert.equal(
      signingAlgorithm({ pem: pem('ec', { namedCurve: 'P-384' }) }, metadata()),
      'ES384',
    );
    assert.equal(signingAlgorithm({ pem: pem('ed25519') }, metadata()), 'EdDSA');
    assert.equal(
      signingAlgorithm({ pem: pem('rsa', { modulusLength: 2048 }) }, metadata()),
      'RS256',
    );
  });
  it('RSA → PS256 when the server only takes PS256', () => {
    assert.equal(
      signingAlgorithm({ pem: pem('rsa', { modulusLength: 2048 }) }, metadata(['PS256'])),
      'PS256',
    );
  });
  it('refuses an algorithm the server does not list, and a key that is not PEM', () => {
    assert.throws(
      () => signingAlgorithm({ pem: pem('ec', { namedCurve: 'P-256' }) }, metadata(['RS256'])),
      (e) => isClientError(e) && /does not accept ES256/.test(e.message),
    );
    assert.throws(
      () => signingAlgorithm({ pem: 'not a key' }, metadata()),
      (e) => isClientError(e) && e.code === 'ClientTokenRequestFailed',
    );
  });
});
