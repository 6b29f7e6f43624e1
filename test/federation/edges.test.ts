/**
 * The less travelled paths of a sign-in: discovery documents that cannot be used, a private key
 * file that is not a key, a token response without an ID token or from an unreachable token
 * endpoint, GitHub end to end (code → token → user API), the RFC 8693 exchange refused with
 * invalid_grant ending the person's grants, and what a refused upstream credential looks like to
 * an MCP client.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { Federation } from '../../src/authorization-server/federation/federation.ts';
import { discover } from '../../src/authorization-server/federation/metadata.ts';
import {
  federatedSubject,
  isFederatedSubject,
} from '../../src/authorization-server/federation/subject.ts';
import { ProviderUpstreamCredentials } from '../../src/authorization-server/federation/upstream-tokens.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { RequestError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  reauthorizeAnswer,
  upstreamCredentialHeaders,
} from '../../src/proxy/upstream-credentials.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { HMAC_SECRET, tempDir } from '../helpers/cli.ts';
import { type ProviderFixture, providerFor, startProviderFixture } from './provider-fixture.ts';

const json = (body: unknown, status = 200) =>
  new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });

describe('sign-in edges', () => {
  let op: ProviderFixture;
  before(async () => {
    op = await startProviderFixture();
  });
  after(async () => {
    await op.close();
  });

  const DISCOVERY: { name: string; answer: () => Response; problem: RegExp }[] = [
    { name: 'a 404', answer: () => json({}, 404), problem: /cannot be read/ },
    { name: 'not JSON', answer: () => json('<html>'), problem: /cannot be read/ },
    { name: 'a JSON array', answer: () => json([]), problem: /not a JSON object/ },
    {
      name: 'no token endpoint',
      answer: () =>
        json({ issuer: 'https://idp.example', authorization_endpoint: 'https://idp.example/a' }),
      problem: /lacks authorization_endpoint, token_endpoint or jwks_uri/,
    },
  ];
  for (const entry of DISCOVERY) {
    it(`discovery refuses ${entry.name}`, async () => {
      await assert.rejects(
        discover(
          async () => entry.answer(),
          'https://idp.example',
          () => true,
        ),
        (error: unknown) =>
          error instanceof RequestError &&
          error.code === 'FederationProviderError' &&
          entry.problem.test(error.message),
      );
    });
  }

  it('a private key file that is not a PKCS #8 key stops start-up, naming the file', async () => {
    const file = join(tempDir(), 'not-a-key.pem');
    // A PEM envelope around four base64 characters: the label of a private key, no key inside.
    const label = ['PRIVATE', 'KEY'].join(' ');
    writeFileSync(file, `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`);
    const provider = providerFor(op.issuer, {
      client_secret_env: undefined,
      private_key_file: file,
    });
    await assert.rejects(provider.ready(), /private_key_file .*not-a-key\.pem is not a PKCS #8/);
  });

  it('a token response without an ID token is refused', async () => {
    const provider = providerFor(op.issuer);
    const started = await provider.start();
    op.tokenAnswers.push({ status: 200, body: { access_token: 'at', token_type: 'Bearer' } });
    await assert.rejects(
      provider.finish(new URLSearchParams({ code: 'c' }), started),
      /no id_token/,
    );
  });

  it('an unreachable token endpoint is a provider error', async () => {
    const provider = providerFor(op.issuer);
    const started = await provider.start();
    op.metadata = { token_endpoint: 'http://127.0.0.1:1/token' };
    try {
      const fresh = providerFor(op.issuer);
      await assert.rejects(
        fresh.finish(new URLSearchParams({ code: 'c' }), started),
        /token endpoint of corp cannot be reached/,
      );
    } finally {
      op.metadata = {};
    }
  });

  it('GitHub end to end: code for a token, the person from /api/v3/user, no ID token', async () => {
    const seen: string[] = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/login/oauth/access_token') {
        res.end(
          JSON.stringify({ access_token: 'gho_abc', token_type: 'bearer', scope: 'read:user' }),
        );
      } else {
        res.end(JSON.stringify({ login: 'octocat', id: 583231, email: 'octocat@github.com' }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const provider = providerFor(origin, { profile: 'github' });
      const started = await provider.start();
      const url = new URL(started.url);
      assert.equal(url.pathname, '/login/oauth/authorize');
      assert.equal(url.searchParams.get('nonce'), null, 'no OpenID Connect, no nonce');
      assert.equal(url.searchParams.get('scope'), 'read:user user:email');
      const signedIn = await provider.finish(new URLSearchParams({ code: 'c' }), started);
      assert.equal(signedIn.providerSubject, '583231');
      assert.equal(signedIn.issuer, origin);
      assert.equal(signedIn.tokens.accessToken, 'gho_abc');
      assert.deepEqual(seen, ['POST /login/oauth/access_token', 'GET /api/v3/user']);
      assert.notEqual(
        federatedSubject(origin, '583231'),
        federatedSubject('https://github.com', '583231'),
      );
    } finally {
      server.close();
    }
  });

  it('federated subjects are recognisable; local usernames are not', () => {
    assert.ok(isFederatedSubject(federatedSubject('https://idp.example', 'a')));
    assert.ok(!isFederatedSubject('alice'));
  });

  it('provider tokens are kept only for providers an upstream takes credentials from', async () => {
    const loaded = loadConfigText(
      stringify({
        remote_mcp: { enabled: false, allowed_scopes: ['files:read'] },
        upstreams: [{ name: 'x', path: '/mcp', url: 'http://127.0.0.1:9/mcp' }],
        authorization_server: {
          enabled: true,
          identity_providers: [
            { name: 'up', issuer: op.issuer, client_id: 'c', client_secret_env: 'S' },
            {
              name: 'down',
              issuer: 'http://127.0.0.1:1/idp',
              client_id: 'c',
              client_secret_env: 'S',
            },
          ],
        },
        development: { allow_loopback_urls: true },
      }),
      { env: { S: 'secret' } },
    );
    const federation = new Federation(loaded, {
      fetch: createGuardedFetch({ allowLoopback: true }),
      now: Date.now,
      issuer: 'http://127.0.0.1:8080',
    });
    assert.equal(federation.keepsTokensOf('up'), false, 'no upstream needs them: not kept');
  });
});

describe('token exchange refused by the provider', () => {
  let op: ProviderFixture;
  before(async () => {
    op = await startProviderFixture();
  });
  after(async () => {
    await op.close();
  });

  it('invalid_grant ends the person’s grants here and asks them to sign in again; the upstream gets nothing', async () => {
    const loaded = loadConfigText(
      stringify({
        remote_mcp: {
          enabled: true,
          bind_address: '127.0.0.1:8080',
          allowed_scopes: ['files:read'],
          token_id_hmac_secret_env: 'H',
        },
        safety: { remote_mcp_enabled: true },
        upstreams: [
          {
            name: 'reports',
            path: '/mcp',
            url: 'http://127.0.0.1:9/mcp',
            credentials: { type: 'token_exchange', provider: 'corp', audience: 'reports' },
          },
        ],
        authorization_server: {
          enabled: true,
          provider_token_keys_env: 'K',
          identity_providers: [
            { name: 'corp', issuer: op.issuer, client_id: 'c', client_secret_env: 'S' },
          ],
        },
        development: { allow_loopback_urls: true },
      }),
      { env: { H: HMAC_SECRET, K: 'provider-token-key-0123456789abcdefghijklmnop', S: 's' } },
    );
    const now = Date.now();
    const federation = new Federation(loaded, {
      fetch: createGuardedFetch({ allowLoopback: true }),
      now: () => now,
      issuer: 'http://127.0.0.1:8080',
    });
    const store = new MemoryStore();
    const subject = 'idp:p';
    await store.putUser({
      username: subject,
      passwordHash: 'federated$corp',
      disabled: false,
      createdAt: now,
      updatedAt: now,
    });
    await store.putFederatedIdentity({
      subject,
      provider: 'corp',
      issuer: op.issuer,
      providerSubject: 'p',
      label: undefined,
      allowedScopes: ['files:read'],
      sealedTokens: federation.vault?.seal(subject, {
        accessToken: 'person-token',
        refreshToken: undefined,
        expiresAt: undefined,
        scope: undefined,
      }),
      updatedAt: now,
    });
    await store.putConsent({
      subject,
      clientId: 'app',
      scopes: ['files:read'],
      resources: ['http://127.0.0.1:8080/mcp'],
      grantedAt: now,
    });
    await store.putGrant({
      grantId: 'g1',
      kind: 'authorization_code',
      subject,
      clientId: 'app',
      resource: 'http://127.0.0.1:8080/mcp',
      scopes: ['files:read'],
      createdAt: now,
      expiresAt: now + 86_400_000,
      revokedAt: undefined,
    });
    const credentials = new ProviderUpstreamCredentials(loaded, {
      federation,
      store,
      now: () => now,
      signInUrl: 'http://127.0.0.1:8080/oauth/login?prompt=login',
    });
    op.tokenAnswers.push({ status: 400, body: { error: 'invalid_grant' } });
    await assert.rejects(
      credentials.headersFor('reports', subject),
      (error: unknown) =>
        error instanceof RequestError && error.code === 'UpstreamCredentialUnavailable',
    );
    assert.notEqual((await store.getGrant('g1'))?.revokedAt, undefined, 'the grant is revoked');
    assert.equal((await store.getFederatedIdentity(subject))?.sealedTokens, undefined);
    // An upstream without per-person credentials needs no source: its static headers only.
    const upstream = {
      ...loaded.config.upstreams[0],
      credentials: undefined,
      headers: { 'X-Key': 'k' },
    };
    assert.deepEqual(
      await upstreamCredentialHeaders(
        upstream as (typeof loaded.config.upstreams)[0],
        subject,
        undefined,
      ),
      { 'x-key': 'k' },
    );
  });

  it('what an MCP client sees: a URL elicitation for a request, nothing special for a notification', async () => {
    const error = new RequestError('UpstreamCredentialUnavailable', 'sign in again', {
      details: { reauthorize_url: 'https://gw.example/oauth/login?prompt=login' },
    });
    const answer = reauthorizeAnswer(error, {
      kind: 'request',
      id: 7,
      method: 'tools/call',
      params: undefined,
    });
    assert.ok(answer);
    const body = (await answer.json()) as {
      id: number;
      error: { code: number; data: { elicitations: { mode: string; url: string }[] } };
    };
    assert.equal(body.id, 7);
    assert.equal(body.error.code, -32042);
    assert.equal(body.error.data.elicitations[0]?.mode, 'url');
    assert.equal(
      body.error.data.elicitations[0]?.url,
      'https://gw.example/oauth/login?prompt=login',
    );
    assert.equal(
      reauthorizeAnswer(error, {
        kind: 'notification',
        method: 'notifications/initialized',
        params: undefined,
      }),
      undefined,
    );
    assert.equal(
      reauthorizeAnswer(new RequestError('UpstreamFailed', 'x'), {
        kind: 'request',
        id: 1,
        method: 'ping',
        params: undefined,
      }),
      undefined,
    );
  });
});
