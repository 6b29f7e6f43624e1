import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type LoadedConfig, loadConfigText } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import {
  buildKeySet,
  createStaticKeySource,
  createVerifierFromConfig,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { token } from '../helpers/tokens.ts';
import { claims, ISSUER, NOW, rejectsWith, testKeys } from '../helpers/verifier-fixture.ts';

const keys = testKeys();
const AUD = 'http://127.0.0.1:8080/mcp';
let server: LoopbackServer;

before(async () => {
  server = await startLoopbackServer({
    '/jwks': (_q, s) => json(s, 200, { keys: [keys.rs.jwk, keys.es.jwk] }),
  });
});
after(() => server.close());

function load(
  remote: string,
  extra = '',
  env: NodeJS.ProcessEnv = { HMAC: HMAC_SECRET },
): LoadedConfig {
  return loadConfigText(
    `
remote_mcp:
  enabled: true
  issuer: ${ISSUER}
  allowed_scopes: [files:read, files:write]
  token_id_hmac_secret_env: HMAC
${remote}
safety: { remote_mcp_enabled: true }
${extra}
upstreams:
  - { name: files, path: /mcp, command: node, tool_scopes: { read: files:read } }
`,
    { env },
  );
}

const now = () => NOW * 1000;

describe('createVerifierFromConfig', () => {
  test('jwks_url on loopback works under development.allow_loopback_urls', async () => {
    const loaded = load(
      `  jwks_url: ${server.origin}/jwks`,
      'development: { allow_loopback_urls: true }',
    );
    const verifier = createVerifierFromConfig(loaded, { now });
    assert.deepEqual(verifier.modes, ['jwt']);
    await verifier.warm();
    const verified = await verifier.verify(token(keys.es, claims({ aud: AUD })));
    assert.deepEqual(verified.scopes, ['files:read']);
  });

  test('the development switch is what lets the fetcher reach loopback (proved with it off)', async () => {
    const loaded = load(
      `  jwks_url: ${server.origin}/jwks`,
      'development: { allow_loopback_urls: true }',
    );
    // Bypass the config rules on purpose: even then the fetcher refuses loopback.
    const switchedOff = {
      ...loaded,
      config: { ...loaded.config, development: { allow_loopback_urls: false } },
    } as LoadedConfig;
    const before = server.requests();
    const verifier = createVerifierFromConfig(switchedOff, { now });
    await rejectsWith(verifier.verify(token(keys.es, claims({ aud: AUD }))), 'AuthUnavailable');
    assert.equal(server.requests(), before);
  });

  test('config limits reach the policy: max_token_length, clock_skew_seconds, require_at_jwt_typ', async () => {
    const loaded = load(
      `  jwks_url: ${server.origin}/jwks
  max_token_length: 700
  clock_skew_seconds: 0
  require_at_jwt_typ: true`,
      'development: { allow_loopback_urls: true }',
    );
    const verifier = createVerifierFromConfig(loaded, { now });
    await rejectsWith(
      verifier.verify(token(keys.es, claims({ aud: AUD, pad: 'x'.repeat(400) }))),
      'AuthTokenInvalid',
    );
    await rejectsWith(
      verifier.verify(token(keys.es, claims({ aud: AUD, exp: NOW }))),
      'AuthTokenExpired',
    );
    await rejectsWith(
      verifier.verify(token(keys.es, claims({ aud: AUD }), { typ: 'JWT' })),
      'AuthTokenInvalid',
    );
    assert.equal(
      (await verifier.verify(token(keys.es, claims({ aud: AUD, exp: NOW + 1 })))).subject,
      'alice',
    );
  });

  test('audiences default to the upstream resources', async () => {
    const loaded = load(
      `  jwks_url: ${server.origin}/jwks`,
      'development: { allow_loopback_urls: true }',
    );
    const verifier = createVerifierFromConfig(loaded, { now });
    await rejectsWith(
      verifier.verify(token(keys.es, claims({ aud: 'http://127.0.0.1:8080/other' }))),
      'AuthInvalidAudience',
    );
  });

  test('the co-located authorization server passes its keys as a key source', async () => {
    const loaded = load('', 'authorization_server: { enabled: true }');
    assert.throws(
      () => createVerifierFromConfig(loaded),
      (error: unknown) => error instanceof ConfigError && error.code === 'ConfigRefused',
    );
    const keySource = createStaticKeySource(
      await buildKeySet({ keys: [keys.ed.jwk] }, ['EdDSA'], undefined),
    );
    const verifier = createVerifierFromConfig(loaded, { keySource, now });
    assert.equal((await verifier.verify(token(keys.ed, claims({ aud: AUD })))).subject, 'alice');
  });

  test('missing pieces refuse construction with the key path', () => {
    const disabled = loadConfigText('upstreams: [{ name: a, path: /mcp, command: node }]', {
      env: {},
    });
    assert.throws(
      () => createVerifierFromConfig(disabled),
      (error: unknown) =>
        error instanceof ConfigError && error.issues[0]?.path === 'remote_mcp.issuer',
    );
    const noSecret = loadConfigText(
      `remote_mcp: { issuer: ${ISSUER}, jwks_url: https://auth.example/jwks }\nupstreams: [{ name: a, path: /mcp, command: node }]`,
      { env: {} },
    );
    assert.throws(
      () => createVerifierFromConfig(noSecret),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues[0]?.path === 'remote_mcp.token_id_hmac_secret_env',
    );
  });
});
