/**
 * Per-person upstream credentials, failing closed: a missing, tampered or undecryptable sealed
 * token, a disabled person, a provider that cannot refresh, and an upstream whose credentials
 * need a source that is not there all refuse with UpstreamCredentialUnavailable (and a URL to
 * sign in again); a positive control gets the person's token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { Federation } from '../../src/authorization-server/federation/federation.ts';
import { ProviderUpstreamCredentials } from '../../src/authorization-server/federation/upstream-tokens.ts';
import { type LoadedConfig, loadConfigText } from '../../src/config/index.ts';
import { RequestError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import { upstreamCredentialHeaders } from '../../src/proxy/upstream-credentials.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { type ProviderFixture, startProviderFixture } from './provider-fixture.ts';

const SUBJECT = 'idp:person';
const SIGN_IN = 'http://127.0.0.1:8080/oauth/login?prompt=login';

describe('per-person upstream credentials', () => {
  let op: ProviderFixture;
  let loaded: LoadedConfig;
  let federation: Federation;
  const now = Date.now();

  before(async () => {
    op = await startProviderFixture();
    loaded = loadConfigText(
      stringify({
        remote_mcp: {
          enabled: true,
          bind_address: '127.0.0.1:8080',
          allowed_scopes: ['files:read'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
        },
        safety: { remote_mcp_enabled: true },
        upstreams: [
          {
            name: 'files',
            path: '/mcp',
            url: 'http://127.0.0.1:9/mcp',
            credentials: { type: 'identity_provider_token', provider: 'corp' },
          },
        ],
        authorization_server: {
          enabled: true,
          provider_token_keys_env: 'KEYS',
          identity_providers: [
            { name: 'corp', issuer: op.issuer, client_id: 'portcullis', client_secret_env: 'S' },
          ],
        },
        development: { allow_loopback_urls: true },
      }),
      {
        env: {
          TEST_HMAC_SECRET: HMAC_SECRET,
          KEYS: 'provider-token-key-0123456789abcdefghijklmnop',
          S: 'corp-secret',
        },
      },
    );
    federation = new Federation(loaded, {
      fetch: createGuardedFetch({ allowLoopback: true }),
      now: () => now,
      issuer: 'http://127.0.0.1:8080',
    });
  });
  after(async () => {
    await op.close();
  });

  async function setUp(options: {
    disabled?: boolean;
    sealed?: (sealed: string) => string | undefined;
    expiresAt?: number;
  }) {
    const store = new MemoryStore();
    await store.putUser({
      username: SUBJECT,
      passwordHash: 'federated$corp',
      disabled: options.disabled ?? false,
      createdAt: now,
      updatedAt: now,
    });
    const sealed = federation.vault?.seal(SUBJECT, {
      accessToken: 'person-access-token',
      refreshToken: 'person-refresh-token',
      expiresAt: options.expiresAt ?? now + 3600_000,
      scope: undefined,
    });
    await store.putFederatedIdentity({
      subject: SUBJECT,
      provider: 'corp',
      issuer: op.issuer,
      providerSubject: 'p',
      label: undefined,
      allowedScopes: ['files:read'],
      sealedTokens:
        sealed === undefined || options.sealed === undefined ? sealed : options.sealed(sealed),
      updatedAt: now,
    });
    const credentials = new ProviderUpstreamCredentials(loaded, {
      federation,
      store,
      now: () => now,
      signInUrl: SIGN_IN,
    });
    return { store, credentials };
  }

  const refusesWithSignIn = (error: unknown) => {
    assert.ok(error instanceof RequestError, String(error));
    assert.equal(error.code, 'UpstreamCredentialUnavailable');
    assert.equal(error.details.reauthorize_url, SIGN_IN);
    return true;
  };

  const CASES: { name: string; setup: Parameters<typeof setUp>[0]; before?: () => void }[] = [
    { name: 'tokens dropped (signed out or revoked)', setup: { sealed: () => undefined } },
    {
      name: 'tampered sealed tokens',
      setup: { sealed: (sealed) => `${sealed.slice(0, -4)}AAAA` },
    },
    {
      name: 'tokens sealed for another person',
      setup: {
        sealed: () =>
          federation.vault?.seal('idp:someone-else', {
            accessToken: 'x',
            refreshToken: undefined,
            expiresAt: undefined,
            scope: undefined,
          }),
      },
    },
    { name: 'a disabled person', setup: { disabled: true } },
    {
      name: 'expired tokens the provider cannot refresh right now (not invalid_grant)',
      setup: { expiresAt: now - 1 },
      before: () =>
        op.tokenAnswers.push({ status: 503, body: { error: 'temporarily_unavailable' } }),
    },
  ];
  for (const entry of CASES) {
    it(`refuses: ${entry.name}`, async () => {
      const { credentials } = await setUp(entry.setup);
      entry.before?.();
      await assert.rejects(credentials.headersFor('files', SUBJECT), refusesWithSignIn);
      op.tokenAnswers.length = 0;
    });
  }

  it('refuses a person who never signed in at the provider', async () => {
    const { credentials } = await setUp({});
    await assert.rejects(credentials.headersFor('files', 'alice'), refusesWithSignIn);
  });

  it('an upstream with per-person credentials and no source gets nothing (fail closed)', async () => {
    const upstream = loaded.config.upstreams[0];
    assert.ok(upstream);
    await assert.rejects(
      upstreamCredentialHeaders(upstream, 'idp:person', undefined),
      (error: unknown) =>
        error instanceof RequestError && error.code === 'UpstreamCredentialUnavailable',
    );
  });

  it('positive control: the person’s own provider token; refreshed when it is about to expire', async () => {
    const { credentials, store } = await setUp({});
    assert.deepEqual(await credentials.headersFor('files', SUBJECT), {
      authorization: 'Bearer person-access-token',
    });
    const expiring = await setUp({ expiresAt: now + 30_000 });
    op.tokenAnswers.push({
      status: 200,
      body: { access_token: 'refreshed-token', expires_in: 600 },
    });
    assert.deepEqual(await expiring.credentials.headersFor('files', SUBJECT), {
      authorization: 'Bearer refreshed-token',
    });
    assert.equal(
      new URLSearchParams(op.tokenRequests.at(-1)?.body).get('refresh_token'),
      'person-refresh-token',
    );
    const resealed = await expiring.store.getFederatedIdentity(SUBJECT);
    assert.equal(
      federation.vault?.open(SUBJECT, resealed?.sealedTokens ?? '')?.accessToken,
      'refreshed-token',
    );
    assert.ok(store);
  });
});
