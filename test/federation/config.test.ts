/**
 * Fail-closed configuration of identity providers and per-person upstream credentials: each
 * broken config names its key path; the table ends with a configuration that loads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigText } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';

type Doc = {
  remote_mcp: Record<string, unknown>;
  safety: Record<string, unknown>;
  upstreams: Record<string, unknown>[];
  authorization_server: Record<string, unknown> & { identity_providers: Record<string, unknown>[] };
  development?: Record<string, unknown>;
};

const ENV = {
  TEST_HMAC_SECRET: HMAC_SECRET,
  CORP_SECRET: 'corp-secret',
  KEYS: 'provider-token-key-0123456789abcdefghijklmnop',
};

function valid(): Doc {
  return {
    remote_mcp: {
      enabled: true,
      bind_address: '127.0.0.1:8080',
      allowed_scopes: ['files:read', 'files:write'],
      token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
    },
    safety: { remote_mcp_enabled: true },
    upstreams: [
      {
        name: 'files',
        path: '/mcp',
        url: 'https://files.internal.example/mcp',
        credentials: { type: 'identity_provider_token', provider: 'corp' },
      },
    ],
    authorization_server: {
      enabled: true,
      provider_token_keys_env: 'KEYS',
      identity_providers: [
        {
          name: 'corp',
          issuer: 'https://login.example.com',
          client_id: 'portcullis',
          client_secret_env: 'CORP_SECRET',
          claim_rules: [{ claim: 'groups', contains: 'mcp', scopes: ['files:read'] }],
        },
      ],
    },
  };
}

const provider = (doc: Doc) =>
  doc.authorization_server.identity_providers[0] as Record<string, unknown>;

const CASES: {
  name: string;
  edit: (doc: Doc) => void;
  env?: Record<string, string>;
  says: RegExp;
}[] = [
  {
    name: 'a provider without issuer',
    edit: (doc) => delete provider(doc).issuer,
    says: /identity_providers\[0\]\.issuer: is required/,
  },
  {
    name: 'a plain-http issuer',
    edit: (doc) => {
      provider(doc).issuer = 'http://login.example.com';
    },
    says: /identity_providers\[0\]\.issuer: must be https/,
  },
  {
    name: 'a loopback issuer without the development switch',
    edit: (doc) => {
      provider(doc).issuer = 'http://127.0.0.1:9000';
    },
    says: /identity_providers\[0\]\.issuer: points at loopback/,
  },
  {
    name: 'neither secret nor key',
    edit: (doc) => delete provider(doc).client_secret_env,
    says: /identity_providers\[0\]: needs exactly one of client_secret_env or private_key_file/,
  },
  {
    name: 'both secret and key',
    edit: (doc) => {
      provider(doc).private_key_file = '/etc/portcullis/idp.pem';
    },
    says: /needs exactly one of client_secret_env or private_key_file/,
  },
  {
    name: 'private_key_jwt without a key',
    edit: (doc) => {
      provider(doc).token_endpoint_auth_method = 'private_key_jwt';
    },
    says: /token_endpoint_auth_method: private_key_jwt needs private_key_file/,
  },
  {
    name: 'the secret variable is not set',
    edit: () => {},
    env: { CORP_SECRET: '' },
    says: /identity_providers\[0\]\.client_secret_env: names environment variable CORP_SECRET/,
  },
  {
    name: 'a claim rule granting a scope that is not allowed',
    edit: (doc) => {
      provider(doc).claim_rules = [{ claim: 'hd', equals: 'example.com', scopes: ['root'] }];
    },
    says: /claim_rules\[0\]\.scopes: scope "root" is not in remote_mcp\.allowed_scopes/,
  },
  {
    name: 'a claim rule with two tests',
    edit: (doc) => {
      provider(doc).claim_rules = [
        {
          claim: 'email',
          equals: 'a@example.com',
          ends_with: '@example.com',
          scopes: ['files:read'],
        },
      ];
    },
    says: /exactly one of equals, contains or ends_with/,
  },
  {
    name: 'two providers with one name',
    edit: (doc) => {
      doc.authorization_server.identity_providers.push({ ...provider(doc) });
    },
    says: /identity_providers\[1\]\.name: "corp" is listed twice/,
  },
  {
    name: 'credentials naming an unknown provider',
    edit: (doc) => {
      doc.upstreams[0] = {
        ...doc.upstreams[0],
        credentials: { type: 'token_exchange', provider: 'nobody', audience: 'x' },
      };
    },
    says: /upstreams\[0\]\.credentials\.provider: names "nobody"/,
  },
  {
    name: 'per-person credentials without a key to seal provider tokens',
    edit: (doc) => delete doc.authorization_server.provider_token_keys_env,
    says: /provider_token_keys_env: is required: upstream files uses identity_provider_token/,
  },
  {
    name: 'a short provider token key',
    edit: () => {},
    env: { KEYS: 'short' },
    says: /every key in KEYS must be at least 32 bytes/,
  },
  {
    name: 'per-person credentials on a stdio upstream',
    edit: (doc) => {
      doc.upstreams[0] = {
        name: 'files',
        path: '/mcp',
        command: 'node',
        credentials: { type: 'identity_provider_token', provider: 'corp' },
      };
    },
    says: /upstreams\[0\]\.credentials: applies to HTTP upstreams only/,
  },
  {
    name: 'static credentials and headers together',
    edit: (doc) => {
      doc.upstreams[0] = {
        ...doc.upstreams[0],
        headers: { 'x-api-key': 'k' },
        credentials: { type: 'static', headers: { 'x-api-key': 'k' } },
      };
    },
    says: /upstreams\[0\]\.credentials: says the same as headers/,
  },
  {
    name: 'local_login false with no provider',
    edit: (doc) => {
      doc.authorization_server.identity_providers = [];
      doc.upstreams[0] = { name: 'files', path: '/mcp', url: 'https://files.internal.example/mcp' };
      doc.authorization_server.local_login = false;
    },
    says: /local_login: is false and no identity provider is configured/,
  },
  {
    name: 'providers without the authorization server',
    edit: (doc) => {
      doc.authorization_server.enabled = false;
    },
    says: /identity_providers\[0\]: needs the co-located authorization server/,
  },
  {
    name: 'token exchange at GitHub',
    edit: (doc) => {
      Object.assign(provider(doc), { profile: 'github', issuer: undefined });
      doc.upstreams[0] = {
        ...doc.upstreams[0],
        credentials: { type: 'token_exchange', provider: 'corp', audience: 'x' },
      };
    },
    says: /GitHub offers no token exchange/,
  },
];

describe('identity provider configuration', () => {
  for (const entry of CASES) {
    it(`refuses: ${entry.name}`, () => {
      const doc = valid();
      entry.edit(doc);
      assert.throws(
        () => loadConfigText(JSON.stringify(doc), { env: { ...ENV, ...entry.env } }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          const all = [error.message, ...error.issues.map((i) => `${i.path}: ${i.message}`)].join(
            '\n',
          );
          assert.match(all, entry.says);
          assert.ok(!all.includes('corp-secret'), 'never the secret');
          return true;
        },
      );
    });
  }

  it('positive control: the valid configuration loads, secrets read from the environment', () => {
    const loaded = loadConfigText(JSON.stringify(valid()), { env: ENV });
    assert.equal(loaded.secrets.identityProviderSecrets.corp, 'corp-secret');
    assert.equal(loaded.secrets.providerTokenKeys?.length, 1);
    const idp = loaded.config.authorization_server.identity_providers[0];
    assert.equal(idp?.scopes, undefined, 'the profile decides: openid email profile');
    assert.deepEqual(idp?.id_token_algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
  });

  it('Entra with a tenant and GitHub need no issuer', () => {
    const doc = valid();
    Object.assign(provider(doc), { profile: 'entra', tenant: 'contoso', issuer: undefined });
    loadConfigText(JSON.stringify(doc), { env: ENV });
    Object.assign(provider(doc), { profile: 'github', tenant: undefined });
    loadConfigText(JSON.stringify(doc), { env: ENV });
  });
});
