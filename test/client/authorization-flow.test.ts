import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenStore } from '../../src/client/index.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import {
  type FixtureOptions,
  type OAuthFixture,
  startOAuthFixture,
} from '../helpers/oauth-fixture.ts';

async function withFixture<T>(
  options: FixtureOptions,
  run: (f: OAuthFixture) => Promise<T>,
): Promise<T> {
  const fixture = await startOAuthFixture(options);
  try {
    return await run(fixture);
  } finally {
    await fixture.stop();
  }
}

const call = (fixture: OAuthFixture, store = tempDir(), ...extra: string[]) =>
  runCli([
    'call',
    fixture.mcpUrl,
    'echo',
    '--args',
    '{"text":"x"}',
    '--open',
    'fetch',
    '--token-store',
    store,
    ...extra,
  ]);

describe('authorization dance against a strict authorization server: refusals', () => {
  const refusals: { name: string; options: FixtureOptions; code: string }[] = [
    {
      name: 'protected resource metadata for another resource (RFC 9728 §3.3)',
      options: { resourceOverride: 'https://evil.example/mcp' },
      code: 'ClientResourceMismatch',
    },
    {
      name: 'authorization server metadata naming another issuer (RFC 8414 §3.3)',
      options: { advertisedIssuer: 'https://honest.example' },
      code: 'ClientIssuerMismatch',
    },
    {
      name: 'no code_challenge_methods_supported (MCP: MUST refuse)',
      options: { pkceMethods: null },
      code: 'ClientPkceUnsupported',
    },
    {
      name: 'code_challenge_methods_supported without S256',
      options: { pkceMethods: ['plain'] },
      code: 'ClientPkceUnsupported',
    },
    {
      name: 'no pre-registration, no client ID metadata document, no dynamic registration',
      options: { registration: false },
      code: 'ClientRegistrationUnavailable',
    },
    {
      name: 'an authorization response with a wrong iss (RFC 9207)',
      options: { iss: 'wrong' },
      code: 'ClientIssuerMismatch',
    },
    {
      name: 'an authorization response without the advertised iss (RFC 9207)',
      options: { iss: 'missing-but-advertised' },
      code: 'ClientIssuerMismatch',
    },
  ];
  for (const c of refusals) {
    it(`${c.name}: exit 1, ${c.code}, nothing reaches the MCP tool`, () =>
      withFixture(c.options, async (fixture) => {
        const result = await call(fixture);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`portcullis: ${c.code}: `));
        assert.doesNotMatch(result.stdout, /echo: x/);
        assert.equal(fixture.counts.grants.authorization_code ?? 0, 0, 'no code was redeemed');
        if (c.code !== 'ClientIssuerMismatch' || c.options.advertisedIssuer) {
          assert.equal(fixture.counts.authorize, 0, 'no authorization request was made');
        }
      }));
  }
  it('the registration error says what to configure', () =>
    withFixture({ registration: false }, async (fixture) => {
      const result = await call(fixture);
      assert.match(result.stderr, /fix: register a client at .* and pass --client-id/);
    }));
  it('positive control: the same server with correct metadata and iss authorizes and calls', () =>
    withFixture({ iss: 'correct' }, async (fixture) => {
      const result = await call(fixture);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /echo: x/);
      assert.equal(fixture.counts.authorize, 1);
      assert.equal(fixture.counts.register, 1);
    }));
});

describe('authorization dance: features', () => {
  it('an issuer with a path (RFC 8414 path insertion)', () =>
    withFixture({ issuerPath: '/tenant1' }, async (fixture) => {
      const result = await call(fixture);
      assert.equal(result.code, 0, result.stderr);
    }));

  it('pre-registered confidential client (--client-id, --client-secret-env), no registration', () =>
    withFixture(
      { registration: false, preRegistered: { 'my-client': 's3cret' } },
      async (fixture) => {
        const result = await runCli(
          [
            'call',
            fixture.mcpUrl,
            'echo',
            '--args',
            '{"text":"pre"}',
            '--open',
            'fetch',
            '--token-store',
            tempDir(),
            '--client-id',
            'my-client',
            '--client-secret-env',
            'MY_SECRET',
          ],
          { MY_SECRET: 's3cret' },
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(fixture.counts.register, 0);
      },
    ));

  it('a pre-registered client is not presented to an issuer other than the one it was first used with', () =>
    withFixture(
      { registration: false, preRegistered: { 'my-client': 's3cret' } },
      async (fixture) => {
        const store = tempDir();
        const argv = [
          'call',
          fixture.mcpUrl,
          'echo',
          '--args',
          '{"text":"b"}',
          '--open',
          'fetch',
          '--token-store',
          store,
          '--client-id',
          'my-client',
          '--client-secret-env',
          'MY_SECRET',
        ];
        assert.equal((await runCli(argv, { MY_SECRET: 's3cret' })).code, 0);
        // As if the client had been used with another authorization server before.
        await TokenStore.open(store, { env: {} }).updateServer(fixture.mcpUrl, (record) =>
          record
            ? {
                ...record,
                preRegisteredBinding: { clientId: 'my-client', issuer: 'https://old-as.example' },
              }
            : record,
        );
        fixture.revokeAll();
        const tokenRequests = fixture.counts.grants.authorization_code;
        const result = await runCli(argv, { MY_SECRET: 's3cret' });
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /ClientIssuerMismatch: client my-client was used with authorization server https:\/\/old-as.example/,
        );
        assert.equal(
          fixture.counts.grants.authorization_code,
          tokenRequests,
          'the secret was not sent',
        );
      },
    ));

  it('step-up on 403 insufficient_scope asks for the union and retries', () =>
    withFixture(
      { requiredScopes: { 'tools/call': ['mcp:read', 'mcp:write'], '*': ['mcp:read'] } },
      async (fixture) => {
        const result = await call(fixture);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(fixture.counts.authorizedScopes, ['mcp:read', 'mcp:read mcp:write']);
      },
    ));

  it('step-up stops after 3 authorizations for one operation (ClientScopeStepUpExhausted)', () =>
    withFixture(
      {
        // Every answer asks for one scope more than the token has: it never ends.
        requiredScopes: (method, granted) =>
          method === 'tools/call' ? [...granted, `s${granted.length + 1}`] : [],
      },
      async (fixture) => {
        const result = await call(fixture);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /ClientScopeStepUpExhausted/);
        // One for initialize (no token yet), then the limit of 3 for the tools/call operation.
        assert.equal(fixture.counts.authorize, 4);
        assert.deepEqual(fixture.counts.authorizedScopes, [undefined, 's1', 's1 s2', 's1 s2 s3']);
      },
    ));

  it('a challenge that asks for nothing new after a step-up is not authorized again', () =>
    withFixture(
      {
        requiredScopes: (method) => (method === 'tools/call' ? ['admin'] : []),
        withheldScopes: ['admin'],
      },
      async (fixture) => {
        // The authorization server never grants "admin": one step-up, then a clear error.
        const result = await call(fixture);
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /ClientScopeStepUpExhausted: .*needs "admin".*asking again would request nothing new/,
        );
        assert.deepEqual(fixture.counts.authorizedScopes, [undefined, 'admin']);
      },
    ));

  it('--non-interactive without stored tokens fails with ClientInteractionRequired and says what to run', () =>
    withFixture({}, async (fixture) => {
      const result = await call(fixture, tempDir(), '--non-interactive');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /ClientInteractionRequired/);
      assert.match(result.stderr, /portcullis login/);
      assert.equal(fixture.counts.authorize, 0);
    }));

  it('an access token the server refuses (401) is refreshed once, without a new authorization', () =>
    withFixture({}, async (fixture) => {
      const store = tempDir();
      assert.equal((await call(fixture, store)).code, 0);
      fixture.revokeAccessTokens();
      const again = await call(fixture, store, '--non-interactive');
      assert.equal(again.code, 0, again.stderr);
      assert.equal(fixture.counts.grants.refresh_token, 1);
      assert.equal(fixture.counts.authorize, 1);
    }));

  it('when the refresh token is dead too, non-interactive mode fails clearly', () =>
    withFixture({}, async (fixture) => {
      const store = tempDir();
      assert.equal((await call(fixture, store)).code, 0);
      fixture.revokeAll();
      const again = await call(fixture, store, '--non-interactive');
      assert.equal(again.code, 1);
      assert.match(again.stderr, /refresh token was refused/);
      assert.match(again.stderr, /ClientInteractionRequired/);
      const interactive = await call(fixture, store);
      assert.equal(interactive.code, 0, 'interaction allowed: a new authorization');
      assert.equal(fixture.counts.authorize, 2);
    }));

  it('a tool that reports isError exits 1 and still prints the result', () =>
    withFixture({}, async (fixture) => {
      const result = await runCli([
        'call',
        fixture.mcpUrl,
        'fail',
        '--open',
        'fetch',
        '--token-store',
        tempDir(),
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /"isError": true/);
    }));

  it('an unknown tool exits 1 and lists the tools', () =>
    withFixture({}, async (fixture) => {
      const result = await runCli([
        'call',
        fixture.mcpUrl,
        'nope',
        '--open',
        'fetch',
        '--token-store',
        tempDir(),
      ]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /ClientToolFailed: the server has no tool "nope" \(it has: echo, fail, ask, notify\)/,
      );
    }));

  it('logout revokes at the server (RFC 7009) and deletes the tokens', () =>
    withFixture({ revocation: true }, async (fixture) => {
      const store = tempDir();
      assert.equal((await call(fixture, store)).code, 0);
      const out = await runCli(['logout', fixture.mcpUrl, '--token-store', store]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stderr, /tokens revoked and deleted/);
      assert.equal(fixture.counts.revoke, 2, 'refresh and access token');
      const after = await call(fixture, store, '--non-interactive');
      assert.match(after.stderr, /ClientInteractionRequired/);
      const twice = await runCli(['logout', fixture.mcpUrl, '--token-store', store]);
      assert.match(twice.stderr, /No tokens were stored/);
    }));
});
