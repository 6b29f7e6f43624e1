import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfigText } from '../../src/config/index.ts';
import {
  buildProtectedResourceMetadata,
  challengeOptionsFor,
  createDpopFromConfig,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';

/* DPoP settings as the configuration gives them. */

function load(upstreamDpop: Record<string, string>, extra: Record<string, unknown> = {}) {
  return loadConfigText(
    stringify({
      remote_mcp: {
        enabled: true,
        issuer: 'https://issuer.example',
        jwks_url: 'https://issuer.example/jwks',
        allowed_scopes: ['files:read'],
        token_id_hmac_secret_env: 'HMAC',
        ...extra,
      },
      safety: { remote_mcp_enabled: true },
      upstreams: Object.entries(upstreamDpop).map(([name, dpop]) => ({
        name,
        path: `/${name}`,
        command: 'node',
        dpop,
      })),
    }),
    { env: { HMAC: HMAC_SECRET } },
  );
}

describe('DPoP from the configuration', () => {
  test('all routes off: nothing is built', () => {
    const dpop = createDpopFromConfig(load({ a: 'off' }));
    assert.equal(dpop.enabled, false);
    assert.equal(dpop.resourceProofs, undefined);
    assert.equal(dpop.modeOf('a'), 'off');
  });

  test('per-route modes, algorithms from remote_mcp.dpop_algorithms, nonces on request', async () => {
    const dpop = createDpopFromConfig(
      load(
        { a: 'allowed', b: 'required', c: 'off' },
        { dpop_algorithms: ['ES256', 'EdDSA'], dpop_nonces: true },
      ),
    );
    assert.equal(dpop.enabled, true);
    assert.deepEqual(
      [dpop.modeOf('a'), dpop.modeOf('b'), dpop.modeOf('c'), dpop.modeOf('zz')],
      ['allowed', 'required', 'off', 'off'],
    );
    assert.deepEqual(dpop.resourceProofs?.algorithms, ['ES256', 'EdDSA']);
    assert.equal(dpop.resourceProofs?.context, 'resource');
    assert.equal(dpop.tokenEndpointProofs?.context, 'token-endpoint');
    assert.ok(dpop.resourceProofs?.nonce());
  });

  test('the defaults: every asymmetric algorithm, no nonces', () => {
    const dpop = createDpopFromConfig(load({ a: 'allowed' }));
    assert.ok(dpop.resourceProofs?.algorithms.includes('ES256'));
    assert.ok(!dpop.resourceProofs?.algorithms.includes('none' as never));
    assert.equal(dpop.resourceProofs?.nonce(), undefined);
  });

  test('a symmetric or none proof algorithm is a config error naming the key', () => {
    assert.throws(() => load({ a: 'allowed' }, { dpop_algorithms: ['HS256'] }), /dpop_algorithms/);
    assert.throws(() => load({ a: 'allowed' }, { dpop_algorithms: ['none'] }), /dpop_algorithms/);
  });

  test('an unknown mode is a config error naming the key', () => {
    assert.throws(() => load({ a: 'sometimes' }), /upstreams\[0\]\.dpop/);
  });
});

describe('protected resource metadata and challenges of DPoP routes (RFC 9728 §2)', () => {
  const loaded = load({ a: 'off', b: 'allowed', c: 'required' }, { dpop_algorithms: ['ES256'] });
  test('off: no DPoP members', () => {
    const document = buildProtectedResourceMetadata(loaded, 'a');
    assert.equal(document.dpop_signing_alg_values_supported, undefined);
    assert.equal(document.dpop_bound_access_tokens_required, undefined);
    assert.equal(challengeOptionsFor(loaded, 'a').dpop, undefined);
  });
  test('allowed: algorithms; Bearer still challenged', () => {
    assert.deepEqual(
      buildProtectedResourceMetadata(loaded, 'b').dpop_signing_alg_values_supported,
      ['ES256'],
    );
    assert.deepEqual(challengeOptionsFor(loaded, 'b').dpop, {
      algorithms: ['ES256'],
      bearer: true,
    });
  });
  test('required: dpop_bound_access_tokens_required; DPoP challenge only', () => {
    assert.equal(
      buildProtectedResourceMetadata(loaded, 'c').dpop_bound_access_tokens_required,
      true,
    );
    assert.deepEqual(challengeOptionsFor(loaded, 'c').dpop, {
      algorithms: ['ES256'],
      bearer: false,
    });
  });
});
