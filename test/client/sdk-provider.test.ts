import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fetchOpener, PortcullisOAuthProvider, TokenStore } from '../../src/client/index.ts';
import { isClientError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import { tempDir } from '../helpers/cli.ts';
import { type FixtureOptions, startOAuthFixture } from '../helpers/oauth-fixture.ts';

async function providerFor(mcpUrl: string, store = TokenStore.open(tempDir(), { env: {} })) {
  return PortcullisOAuthProvider.create({
    serverUrl: mcpUrl,
    store,
    fetch: createGuardedFetch({ allowLoopback: true }),
    opener: fetchOpener({ notice: () => undefined }),
  });
}

/** The SDK's documented pattern: connect, on UnauthorizedError finish the flow, connect again. */
async function connectWithSdk(url: string, provider: PortcullisOAuthProvider) {
  const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: 'sdk-user', version: '1.0.0' });
  try {
    await client.connect(first);
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  await first.finishAuth(await provider.waitForAuthorizationCode());
  const second = new Client({ name: 'sdk-user', version: '1.0.0' });
  await second.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
  return second;
}

async function withFixture(
  options: FixtureOptions,
  run: (f: Awaited<ReturnType<typeof startOAuthFixture>>) => Promise<void>,
) {
  const fixture = await startOAuthFixture(options);
  try {
    await run(fixture);
  } finally {
    await fixture.stop();
  }
}

describe('PortcullisOAuthProvider in the official SDK transport', () => {
  it('authorizes (registration, PKCE, state, resource) and calls a tool', () =>
    withFixture({ iss: 'correct' }, async (fixture) => {
      const provider = await providerFor(fixture.mcpUrl);
      try {
        const client = await connectWithSdk(fixture.mcpUrl, provider);
        const result = await client.callTool({ name: 'echo', arguments: { text: 'sdk' } });
        assert.match(JSON.stringify(result), /echo: sdk/);
        await client.close();
        assert.equal(fixture.counts.authorize, 1);
        assert.equal(fixture.counts.register, 1);
      } finally {
        await provider.close();
      }
    }));

  it('stored tokens are reused by a new provider, and refreshed before they expire', () =>
    withFixture({ accessTokenTtl: 5 }, async (fixture) => {
      const store = TokenStore.open(tempDir(), { env: {} });
      const first = await providerFor(fixture.mcpUrl, store);
      await (await connectWithSdk(fixture.mcpUrl, first)).close();
      await first.close();
      const second = await providerFor(fixture.mcpUrl, store);
      try {
        const client = new Client({ name: 'sdk-user', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(fixture.mcpUrl), { authProvider: second }),
        );
        await client.callTool({ name: 'echo', arguments: { text: 'again' } });
        await client.close();
        assert.equal(fixture.counts.authorize, 1, 'no second authorization');
        assert.ok((fixture.counts.grants.refresh_token ?? 0) >= 1, 'refreshed proactively');
      } finally {
        await second.close();
      }
    }));

  const refusals: [string, FixtureOptions, string][] = [
    ['no PKCE S256 advertised', { pkceMethods: null }, 'ClientPkceUnsupported'],
    [
      'metadata for another issuer',
      { advertisedIssuer: 'https://honest.example' },
      'ClientIssuerMismatch',
    ],
    [
      'an unsafe authorization endpoint',
      { authorizationEndpoint: 'file:///etc/passwd' },
      'ClientUnsafeAuthorizationUrl',
    ],
    [
      'protected resource metadata for another resource',
      { resourceOverride: 'https://evil.example/mcp' },
      'ClientResourceMismatch',
    ],
  ];
  for (const [name, options, code] of refusals) {
    it(`stops where the SDK alone would go on: ${name}`, () =>
      withFixture(options, async (fixture) => {
        const provider = await providerFor(fixture.mcpUrl);
        try {
          await assert.rejects(
            connectWithSdk(fixture.mcpUrl, provider),
            (e) => isClientError(e) && e.code === code,
          );
          assert.equal(fixture.counts.authorize, 0);
          assert.equal(fixture.counts.register, 0);
        } finally {
          await provider.close();
        }
      }));
  }

  it("dpop: 'required' with a server that does not advertise DPoP stops before registration", () =>
    withFixture({}, async (fixture) => {
      const provider = await PortcullisOAuthProvider.create({
        serverUrl: fixture.mcpUrl,
        store: TokenStore.open(tempDir(), { env: {} }),
        fetch: createGuardedFetch({ allowLoopback: true }),
        opener: fetchOpener({ notice: () => undefined }),
        dpop: 'required',
      });
      try {
        await assert.rejects(
          connectWithSdk(fixture.mcpUrl, provider),
          (e) =>
            isClientError(e) &&
            e.code === 'ClientTokenRequestFailed' &&
            /does not advertise DPoP/.test(e.message),
        );
        assert.equal(fixture.counts.register, 0);
        assert.equal(fixture.counts.authorize, 0);
        assert.equal(await provider.dpop(), undefined);
      } finally {
        await provider.close();
      }
    }));

  it('a wrong RFC 9207 iss is refused before the code is redeemed', () =>
    withFixture({ iss: 'wrong' }, async (fixture) => {
      const provider = await providerFor(fixture.mcpUrl);
      try {
        await assert.rejects(
          connectWithSdk(fixture.mcpUrl, provider),
          (e) => isClientError(e) && e.code === 'ClientIssuerMismatch',
        );
        assert.equal(fixture.counts.grants.authorization_code ?? 0, 0);
      } finally {
        await provider.close();
      }
    }));
});
