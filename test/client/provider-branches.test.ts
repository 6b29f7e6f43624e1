import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import { decodeJwt } from 'jose';
import type { AuthorizationOpener } from '../../src/client/opener.ts';
import {
  PortcullisOAuthProvider,
  type PortcullisProviderOptions,
} from '../../src/client/provider.ts';
import { TokenStore } from '../../src/client/token-store.ts';
import { type ClientError, isClientError } from '../../src/errors/index.ts';
import { tempDir } from '../helpers/cli.ts';

/**
 * The SDK provider's hooks, called the way the SDK's `auth()` calls them, with hostile or
 * incomplete discovery results: each refusal stops the flow with a precise ClientError, and
 * nothing is stored or opened that should not be.
 */

const serverUrl = 'http://127.0.0.1:9/mcp';
const issuer = 'http://127.0.0.1:9';
const providers: PortcullisOAuthProvider[] = [];
after(() => Promise.all(providers.map((p) => p.close())));

interface Made {
  readonly provider: PortcullisOAuthProvider;
  readonly store: TokenStore;
  readonly opened: URL[];
}

async function make(
  extra: Partial<PortcullisProviderOptions> = {},
  opener?: AuthorizationOpener,
): Promise<Made> {
  const store = TokenStore.open(tempDir(), { env: {} });
  const opened: URL[] = [];
  const provider = await PortcullisOAuthProvider.create({
    serverUrl,
    store,
    fetch: async () => {
      throw new Error('no network in these tests');
    },
    opener:
      opener ??
      (async (url) => {
        opened.push(url);
      }),
    ...extra,
  });
  providers.push(provider);
  return { provider, store, opened };
}

const metadata = (overrides: Record<string, unknown> = {}) => ({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  response_types_supported: ['code'],
  code_challenge_methods_supported: ['S256'],
  ...overrides,
});

const resourceMetadata = { resource: serverUrl, authorization_servers: [issuer] };

function state(overrides: Partial<OAuthDiscoveryState> = {}): OAuthDiscoveryState {
  return {
    authorizationServerUrl: issuer,
    resourceMetadata,
    authorizationServerMetadata: metadata(),
    ...overrides,
  } as OAuthDiscoveryState;
}

async function refusal(run: () => Promise<unknown>): Promise<ClientError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isClientError(error), `expected a ClientError, got ${String(error)}`);
  return error;
}

describe('saveDiscoveryState: the discovered authorization server is checked first', () => {
  const cases: { name: string; state: () => OAuthDiscoveryState; code: string; message: RegExp }[] =
    [
      {
        name: 'resource metadata but no authorization server metadata',
        state: () => state({ authorizationServerMetadata: undefined }),
        code: 'ClientDiscoveryFailed',
        message: new RegExp(`^the authorization server ${issuer} publishes no metadata$`),
      },
      {
        name: 'metadata naming another issuer',
        state: () =>
          state({
            authorizationServerMetadata: metadata({
              issuer: 'https://evil.example',
            }) as OAuthDiscoveryState['authorizationServerMetadata'],
          }),
        code: 'ClientIssuerMismatch',
        message: /names issuer "https:\/\/evil\.example", expected "http:\/\/127\.0\.0\.1:9"/,
      },
      {
        name: 'legacy (no resource metadata): an issuer on another origin',
        state: () =>
          state({
            resourceMetadata: undefined,
            authorizationServerMetadata: metadata({
              issuer: 'http://127.0.0.2:9',
            }) as OAuthDiscoveryState['authorizationServerMetadata'],
          }),
        code: 'ClientIssuerMismatch',
        message: /names issuer "http:\/\/127\.0\.0\.2:9"/,
      },
      {
        name: 'legacy: an issuer that is not a URL',
        state: () =>
          state({
            resourceMetadata: undefined,
            authorizationServerMetadata: metadata({
              issuer: 'not a url',
            }) as OAuthDiscoveryState['authorizationServerMetadata'],
          }),
        code: 'ClientIssuerMismatch',
        message: /names issuer "not a url"/,
      },
      {
        name: 'no code_challenge_methods_supported',
        state: () =>
          state({
            authorizationServerMetadata: metadata({
              code_challenge_methods_supported: undefined,
            }) as OAuthDiscoveryState['authorizationServerMetadata'],
          }),
        code: 'ClientPkceUnsupported',
        message: new RegExp(`^${issuer} does not advertise PKCE S256; refusing to proceed$`),
      },
      {
        name: 'plain PKCE only',
        state: () =>
          state({
            authorizationServerMetadata: metadata({
              code_challenge_methods_supported: ['plain'],
            }) as OAuthDiscoveryState['authorizationServerMetadata'],
          }),
        code: 'ClientPkceUnsupported',
        message: /does not advertise PKCE S256/,
      },
      {
        name: 'an ftp: authorization endpoint',
        state: () =>
          state({
            authorizationServerMetadata: metadata({
              authorization_endpoint: 'ftp://as.example/authorize',
            }) as OAuthDiscoveryState['authorizationServerMetadata'],
          }),
        code: 'ClientUnsafeAuthorizationUrl',
        message: /scheme ftp: is not http or https/,
      },
    ];
  for (const c of cases) {
    it(`${c.name}: ${c.code}, the state is not kept`, async () => {
      const { provider } = await make();
      const error = await refusal(() => provider.saveDiscoveryState(c.state()));
      assert.equal(error.code, c.code);
      assert.match(error.message, c.message);
      assert.equal(provider.discoveryState(), undefined);
    });
  }

  it('positive control: checked metadata is kept; legacy default endpoints are kept as well', async () => {
    const { provider } = await make();
    const good = state();
    await provider.saveDiscoveryState(good);
    assert.equal(provider.discoveryState(), good);
    const legacy = state({ resourceMetadata: undefined, authorizationServerMetadata: undefined });
    await provider.saveDiscoveryState(legacy);
    assert.equal(provider.discoveryState(), legacy);
    await provider.invalidateCredentials('discovery');
    assert.equal(provider.discoveryState(), undefined);
  });
});

describe('validateResourceURL (RFC 8707, RFC 9728 §3.3)', () => {
  it('metadata for another resource: ClientResourceMismatch', async () => {
    const { provider } = await make();
    const error = await refusal(() =>
      provider.validateResourceURL(serverUrl, 'https://evil.example/mcp'),
    );
    assert.equal(error.code, 'ClientResourceMismatch');
    assert.equal(
      error.message,
      `protected resource metadata is for "https://evil.example/mcp", not for ${serverUrl}; refusing to authorize`,
    );
  });

  it('positive control: no resource → the server URL; the origin (root document) → accepted', async () => {
    const { provider } = await make();
    assert.equal((await provider.validateResourceURL(`${serverUrl}#frag`))?.href, serverUrl);
    assert.equal((await provider.validateResourceURL(serverUrl, serverUrl))?.href, serverUrl);
    assert.equal(
      (await provider.validateResourceURL(serverUrl, 'http://127.0.0.1:9'))?.href,
      'http://127.0.0.1:9/',
    );
  });
});

describe('redirectToAuthorization and the callback', () => {
  it('waitForAuthorizationCode with no authorization in progress: ClientAuthorizationFailed', async () => {
    const { provider } = await make();
    const error = await refusal(() => provider.waitForAuthorizationCode());
    assert.equal(error.code, 'ClientAuthorizationFailed');
    assert.equal(error.message, 'no authorization is in progress');
  });

  const urls: { name: string; url: (state: string) => string; code: string }[] = [
    { name: 'no state', url: () => `${issuer}/authorize?client_id=c`, code: 'ClientStateMismatch' },
    {
      name: 'a state that is not ours',
      url: () => `${issuer}/authorize?state=forged`,
      code: 'ClientStateMismatch',
    },
    {
      name: 'plain http to a non-loopback host',
      url: (s) => `http://as.example/authorize?state=${s}`,
      code: 'ClientUnsafeAuthorizationUrl',
    },
    {
      name: 'credentials in the URL',
      url: (s) => `https://user:pw@as.example/authorize?state=${s}`,
      code: 'ClientUnsafeAuthorizationUrl',
    },
  ];
  for (const c of urls) {
    it(`an authorization URL with ${c.name}: ${c.code}, nothing opened`, async () => {
      const { provider, opened } = await make();
      const ours = provider.state();
      const error = await refusal(() => provider.redirectToAuthorization(new URL(c.url(ours))));
      assert.equal(error.code, c.code);
      assert.equal(opened.length, 0);
      await refusal(() => provider.waitForAuthorizationCode());
    });
  }

  it('positive control: our state is opened; the code reaching the callback is returned once', async () => {
    let provider: PortcullisOAuthProvider | undefined;
    const opener: AuthorizationOpener = async (url, context) => {
      const answer = await fetch(
        `${context.redirectUri}?code=the-code&state=${url.searchParams.get('state')}&iss=${encodeURIComponent(issuer)}`,
      );
      await answer.text();
    };
    ({ provider } = await make({ callbackTimeoutMs: 30_000 }, opener));
    await provider.saveDiscoveryState(
      state({
        authorizationServerMetadata: metadata({
          authorization_response_iss_parameter_supported: true,
        }) as OAuthDiscoveryState['authorizationServerMetadata'],
      }),
    );
    const port = new URL(provider.redirectUrl).port;
    const ours = provider.state();
    await provider.redirectToAuthorization(new URL(`${issuer}/authorize?state=${ours}`));
    assert.equal(await provider.waitForAuthorizationCode(), 'the-code');
    // The listener is bound again (same port when free) for a later step-up.
    assert.equal(new URL(provider.redirectUrl).port, port);
    await refusal(() => provider.waitForAuthorizationCode());
  });
});

describe('client information the SDK reads and saves', () => {
  it('pre-registered: returned with and without a secret; saving never overwrites it', async () => {
    const { provider, store } = await make({ clientId: 'pre', clientSecret: 'shh' });
    assert.deepEqual(await provider.clientInformation(), {
      client_id: 'pre',
      client_secret: 'shh',
    });
    await provider.saveDiscoveryState(state());
    await provider.saveClientInformation({ client_id: 'other' });
    assert.equal(await store.readClient(issuer), undefined);
    const { provider: noSecret } = await make({ clientId: 'pre' });
    assert.deepEqual(await noSecret.clientInformation(), { client_id: 'pre' });
  });

  it('before discovery, without an issuer: nothing read, nothing saved', async () => {
    const { provider, store } = await make();
    assert.equal(await provider.clientInformation(), undefined);
    await provider.saveClientInformation({ client_id: 'x' });
    assert.equal(await store.readClient(issuer), undefined);
  });

  it('a registration for another redirect URI is not offered to the SDK', async () => {
    const { provider, store } = await make();
    await provider.saveDiscoveryState(state());
    await store.writeClient({
      issuer,
      client_id: 'old',
      source: 'dynamic',
      redirect_uris: ['http://127.0.0.1:1/callback'],
    });
    assert.equal(await provider.clientInformation(), undefined);
    await store.writeClient({ issuer, client_id: 'none', source: 'dynamic' });
    assert.equal(await provider.clientInformation(), undefined);
  });

  it('a metadata-document client ID is saved as such and read back with its issuer', async () => {
    const url = 'https://app.example/client.json';
    const { provider, store } = await make({ clientMetadataUrl: url });
    assert.equal(provider.clientMetadataUrl, url);
    await provider.saveDiscoveryState(state());
    await provider.saveClientInformation({ client_id: url });
    assert.equal((await store.readClient(issuer))?.source, 'metadata-document');
    assert.deepEqual(await provider.clientInformation(), { client_id: url, issuer });
  });

  it('positive control: a dynamic registration is saved (issuer from the info) and read back in full', async () => {
    const { provider, store } = await make();
    assert.deepEqual(provider.clientMetadata.redirect_uris, [provider.redirectUrl]);
    assert.equal(provider.clientMetadata.client_name, 'Portcullis');
    await provider.saveClientInformation({
      client_id: 'dyn',
      client_secret: 'sec',
      issuer,
      token_endpoint_auth_method: 'client_secret_post',
    } as Parameters<PortcullisOAuthProvider['saveClientInformation']>[0]);
    assert.deepEqual(await store.readClient(issuer), {
      issuer,
      client_id: 'dyn',
      client_secret: 'sec',
      token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: [provider.redirectUrl],
      source: 'dynamic',
    });
    await provider.saveDiscoveryState(state());
    assert.deepEqual(await provider.clientInformation(), {
      client_id: 'dyn',
      client_secret: 'sec',
      token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: [provider.redirectUrl],
      issuer,
    });
    await provider.invalidateCredentials('client');
    assert.equal(await store.readClient(issuer), undefined);
  });

  it('invalidating the client of a pre-registered provider deletes nothing', async () => {
    const { provider, store } = await make({ clientId: 'pre' });
    await provider.saveDiscoveryState(state());
    await store.writeClient({ issuer, client_id: 'kept', source: 'dynamic' });
    await provider.invalidateCredentials('all');
    assert.equal((await store.readClient(issuer))?.client_id, 'kept');
  });
});

describe('tokens the SDK saves and reads', () => {
  it('saveTokens before discovery and without an issuer: refused, nothing stored', async () => {
    const { provider, store } = await make();
    await assert.rejects(
      provider.saveTokens({ access_token: 'at', token_type: 'Bearer' }),
      /saveTokens before discovery/,
    );
    assert.equal(await store.readServer(new URL(serverUrl).href), undefined);
    assert.equal(await provider.tokens(), undefined);
  });

  it('legacy default endpoints: the stored discovery is built from the issuer', async () => {
    const { provider, store } = await make();
    await provider.saveDiscoveryState(
      state({ resourceMetadata: undefined, authorizationServerMetadata: undefined }),
    );
    await provider.saveTokens({ access_token: 'at', token_type: 'Bearer' });
    const record = await store.readServer(serverUrl);
    assert.equal(record?.discovery?.metadata.token_endpoint, `${issuer}/token`);
    assert.equal(record?.discovery?.defaultEndpoints, true);
    assert.equal(record?.discovery?.legacy, true);
    assert.equal(record?.discovery?.resource, serverUrl);
    const tokens = await provider.tokens();
    assert.deepEqual(tokens, { access_token: 'at', token_type: 'Bearer', issuer });
  });

  it('positive control: tokens with scope, refresh and expiry round-trip; invalidating tokens forgets them', async () => {
    const { provider, store } = await make();
    await provider.saveDiscoveryState({
      ...state(),
      resourceMetadataUrl: `${issuer}/.well-known/oauth-protected-resource/mcp`,
    });
    await provider.saveTokens({
      access_token: 'at',
      token_type: 'Bearer',
      refresh_token: 'rt',
      scope: 'read',
      expires_in: 3600,
      issuer,
    } as Parameters<PortcullisOAuthProvider['saveTokens']>[0]);
    const record = await store.readServer(serverUrl);
    const stored = record?.tokens?.[issuer];
    assert.equal(stored?.requested_scope, 'read');
    assert.equal(
      record?.discovery?.resourceMetadataUrl,
      `${issuer}/.well-known/oauth-protected-resource/mcp`,
    );
    const tokens = await provider.tokens();
    assert.equal(tokens?.refresh_token, 'rt');
    assert.equal(tokens?.scope, 'read');
    assert.ok((tokens?.expires_in ?? 0) > 3000 && (tokens?.expires_in ?? 0) <= 3600);
    await provider.invalidateCredentials('tokens');
    assert.equal(await provider.tokens(), undefined);
    assert.deepEqual((await store.readServer(serverUrl))?.tokens, {});
  });
});

describe('PKCE verifier and private_key_jwt', () => {
  it('no verifier saved: refused; saved: returned; invalidated: refused again', async () => {
    const { provider } = await make();
    assert.throws(() => provider.codeVerifier(), /no PKCE verifier saved/);
    provider.saveCodeVerifier('v');
    assert.equal(provider.codeVerifier(), 'v');
    await provider.invalidateCredentials('verifier');
    assert.throws(() => provider.codeVerifier(), /no PKCE verifier saved/);
  });

  it('a private key without a client ID: no client authentication hook', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const { provider } = await make({ privateKey: { pem } });
    assert.equal(provider.addClientAuthentication, undefined);
  });

  it('positive control: with a client ID, the hook adds an RFC 7523 client assertion', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const { provider } = await make({ clientId: 'kid-client', privateKey: { pem } });
    const params = new URLSearchParams();
    await provider.addClientAuthentication?.(
      new Headers(),
      params,
      `${issuer}/token`,
      metadata() as never,
    );
    assert.equal(
      params.get('client_assertion_type'),
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    const claims = decodeJwt(params.get('client_assertion') ?? '');
    assert.equal(claims.iss, 'kid-client');
    assert.equal(claims.sub, 'kid-client');
  });
});
