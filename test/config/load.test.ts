import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText } from '../../src/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { mutate, toYaml, VALID_ENV, validDocument } from '../helpers/configs.ts';

describe('loadConfigText', () => {
  it('applies documented defaults', () => {
    const { config } = loadConfigText(toYaml(validDocument()), { env: VALID_ENV });
    assert.equal(config.remote_mcp.clock_skew_seconds, 60);
    assert.deepEqual(config.remote_mcp.algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
    assert.equal(config.remote_mcp.max_connections, 64);
    assert.equal(config.remote_mcp.rate_limit_max_requests, 120);
    assert.equal(config.store.sqlite, './data/portcullis.db');
    assert.equal(config.authorization_server.enabled, false);
    assert.equal(config.authorization_server.access_token_ttl_seconds, 900);
    assert.equal(config.audit.on_write_failure, 'refuse');
    assert.equal(config.development.allow_loopback_urls, false);
  });

  it('is frozen all the way down', () => {
    const loaded = loadConfigText(toYaml(validDocument()), { env: VALID_ENV });
    assert.ok(Object.isFrozen(loaded));
    assert.ok(Object.isFrozen(loaded.config.remote_mcp));
    assert.ok(Object.isFrozen(loaded.config.remote_mcp.allowed_scopes));
    assert.ok(Object.isFrozen(loaded.config.upstreams[0]?.tool_scopes));
    assert.ok(Object.isFrozen(loaded.derived.upstreams[0]));
    assert.throws(() => {
      (loaded.config.remote_mcp.allowed_scopes as string[]).push('admin');
    }, TypeError);
  });

  it('derives resources, metadata URLs and default audiences from public_url and paths', () => {
    const yaml = mutate((d) => {
      d.remote_mcp.public_url = 'https://gw.example.com/';
      d.remote_mcp.bind_address = '0.0.0.0:8443';
      d.upstreams.push({ name: 'notes', path: '/mcp/notes', url: 'http://10.0.0.2:9000/mcp' });
    });
    const { derived } = loadConfigText(yaml, { env: VALID_ENV });
    assert.equal(derived.publicUrl, 'https://gw.example.com');
    assert.deepEqual(
      derived.upstreams.map((u) => [u.name, u.transport, u.resource, u.metadataUrls]),
      [
        [
          'files',
          'stdio',
          'https://gw.example.com/mcp',
          [
            'https://gw.example.com/.well-known/oauth-protected-resource/mcp',
            'https://gw.example.com/.well-known/oauth-protected-resource',
          ],
        ],
        [
          'notes',
          'http',
          'https://gw.example.com/mcp/notes',
          ['https://gw.example.com/.well-known/oauth-protected-resource/mcp/notes'],
        ],
      ],
    );
    assert.deepEqual(derived.audiences, [
      'https://gw.example.com/mcp',
      'https://gw.example.com/mcp/notes',
    ]);
  });

  it('defaults public_url to the loopback bind address', () => {
    const { derived } = loadConfigText(toYaml(validDocument()), { env: VALID_ENV });
    assert.equal(derived.publicUrl, 'http://127.0.0.1:8080');
    assert.equal(derived.upstreams[0]?.resource, 'http://127.0.0.1:8080/mcp');
    assert.equal(derived.bind.loopback, true);
  });

  it('uses remote_mcp.resource for the default upstream, canonicalized', () => {
    const yaml = mutate((d) => {
      d.remote_mcp.resource = 'http://127.0.0.1:8080/mcp/';
    });
    const { derived } = loadConfigText(yaml, { env: VALID_ENV });
    assert.equal(derived.upstreams[0]?.resource, 'http://127.0.0.1:8080/mcp');
  });

  it('expands ${NAME} from the environment and marks the value sensitive', () => {
    const yaml = mutate((d) => {
      d.upstreams[0] = {
        name: 'files',
        path: '/mcp',
        url: 'https://files.example.com/${FILES_PATH}',
        headers: { Authorization: 'Bearer ${FILES_TOKEN}', 'X-Literal': 'cost: $${HOME}' },
      };
    });
    const loaded = loadConfigText(yaml, {
      env: { ...VALID_ENV, FILES_TOKEN: 'upstream-secret', FILES_PATH: 'mcp' },
    });
    const upstream = loaded.config.upstreams[0];
    assert.equal(upstream?.headers.Authorization, 'Bearer upstream-secret');
    assert.equal(upstream?.headers['X-Literal'], 'cost: ${HOME}');
    assert.equal(upstream?.url, 'https://files.example.com/mcp');
    assert.ok(loaded.sensitivePaths.has('upstreams[0].headers.Authorization'));
    assert.ok(loaded.sensitivePaths.has('upstreams[0].url'));
  });

  it('reads *_env secrets into secrets, not into the config', () => {
    const loaded = loadConfigText(toYaml(validDocument()), { env: VALID_ENV });
    assert.equal(loaded.secrets.tokenIdHmacSecret?.toString('utf8'), HMAC_SECRET);
    assert.ok(!JSON.stringify(loaded.config).includes(HMAC_SECRET));
  });

  it('accepts exactly 32 bytes of HMAC secret and refuses 31', () => {
    const yaml = toYaml(validDocument());
    assert.doesNotThrow(() => loadConfigText(yaml, { env: { TEST_HMAC_SECRET: 'x'.repeat(32) } }));
    assert.throws(
      () => loadConfigText(yaml, { env: { TEST_HMAC_SECRET: 'x'.repeat(31) } }),
      (error: unknown) =>
        error instanceof ConfigError && error.issues.some((i) => i.message.includes('31 bytes')),
    );
  });

  it('accepts clock skew of exactly 300', () => {
    const yaml = mutate((d) => {
      d.remote_mcp.clock_skew_seconds = 300;
    });
    assert.equal(
      loadConfigText(yaml, { env: VALID_ENV }).config.remote_mcp.clock_skew_seconds,
      300,
    );
  });

  it('allows auth: none on loopback without any OAuth settings', () => {
    const yaml = toYaml({
      remote_mcp: { enabled: true, auth: 'none', bind_address: '[::1]:9000' },
      safety: { remote_mcp_enabled: true },
      upstreams: [{ name: 'local', path: '/mcp', command: 'node' }],
    });
    const loaded = loadConfigText(yaml, { env: {} });
    assert.equal(loaded.config.remote_mcp.auth, 'none');
    assert.equal(loaded.derived.publicUrl, 'http://[::1]:9000');
  });

  it('applies the --bind override before the rules', () => {
    const yaml = toYaml(validDocument());
    assert.throws(
      () => loadConfigText(yaml, { env: VALID_ENV, overrides: { bindAddress: '0.0.0.0:8080' } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some((i) => i.path === 'remote_mcp.public_url'),
    );
    const loaded = loadConfigText(yaml, {
      env: VALID_ENV,
      overrides: { bindAddress: '127.0.0.1:0' },
    });
    assert.equal(loaded.derived.bind.port, 0);
  });

  it('suggests the closest key for a typo in a nested block', () => {
    const yaml = mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], tool_scope: {} };
    });
    assert.throws(
      () => loadConfigText(yaml, { env: VALID_ENV }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some(
          (i) => i.path === 'upstreams[0].tool_scope' && i.fix === 'did you mean "tool_scopes"?',
        ),
    );
  });
});
