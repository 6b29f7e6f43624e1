/**
 * PortcullisOAuthProvider with DPoP (RFC 9449) in the MCP TypeScript SDK client v2
 * (@modelcontextprotocol/client, which calls the provider's `dpop()` hook), through the gateway
 * with its co-located authorization server: dynamic registration, sign-in and consent walked over
 * HTTP, the code redeemed with a proof, a `token_type: DPoP` token bound to the provider's key,
 * tool calls with a proof per request (on a route that accepts only DPoP, with server nonces),
 * the key kept encrypted in the token store. Then the modes: `required` against a server without
 * DPoP stops before registration (test/client/sdk-provider.test.ts), `off` gets no token for the
 * DPoP-only route and a bearer token elsewhere, and under `required` the bearer token the v1 SDK
 * (no `dpop()` hook) obtains is refused.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  OAuthError,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from '@modelcontextprotocol/client';
import { UnauthorizedError as UnauthorizedErrorV1 } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { decodeJwt } from 'jose';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { setUserPassword } from '../../src/authorization-server/index.ts';
import {
  type AuthorizationOpener,
  type DpopMode,
  PortcullisOAuthProvider,
  TokenStore,
} from '../../src/client/index.ts';
import { isClientError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { Browser, PASSWORD } from '../authorization-server/harness.ts';
import { tempDir } from '../helpers/cli.ts';
import { loadTestConfig, memoryLogger, stdioTestUpstream } from '../helpers/gateway.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every byte the token store wrote, for "nothing in clear" assertions. */
function storeBytes(dir: string): string {
  let all = '';
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    all += statSync(path).isDirectory() ? storeBytes(path) : readFileSync(path, 'latin1');
  }
  return all;
}

describe('PortcullisOAuthProvider: DPoP-bound tokens in the SDK client v2 through the gateway', () => {
  let gateway: RunningPortcullis;
  let origin = '';

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const store = new MemoryStore();
    await setUserPassword(store, 'alice', PASSWORD, Date.now());
    const loaded = loadTestConfig({
      remote_mcp: {
        enabled: true,
        bind_address: `127.0.0.1:${port}`,
        auth: 'oauth',
        allowed_scopes: ['files:read', 'files:write', 'mcp:resources', 'mcp:prompts'],
        token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
        rate_limit_max_requests: 10_000,
        dpop_nonces: true,
      },
      safety: { remote_mcp_enabled: true },
      development: { allow_loopback_urls: true },
      upstreams: [
        stdioTestUpstream({ dpop: 'allowed' }),
        stdioTestUpstream({ name: 'strict', path: '/strict', dpop: 'required' }),
      ],
      authorization_server: { enabled: true, dynamic_registration: 'open' },
    });
    gateway = await startPortcullis(loaded, {
      logger: memoryLogger().logger,
      audit: false,
      store,
    });
  });

  after(async () => {
    await gateway?.close();
  });

  /** Signs in as alice and allows, over HTTP; the answer lands on the provider's callback. */
  const consentingOpener: AuthorizationOpener = async (url) => {
    const browser = new Browser(origin);
    const first = await browser.get(url.pathname + url.search);
    const back = await browser.completeFlow(first, 'alice', PASSWORD, 'allow');
    await (await fetch(back)).text();
  };

  async function providerFor(path: string, dpop: DpopMode | undefined, dir = tempDir()) {
    const provider = await PortcullisOAuthProvider.create({
      serverUrl: `${origin}${path}`,
      store: TokenStore.open(dir, { env: {} }),
      fetch: createGuardedFetch({ allowLoopback: true }),
      opener: consentingOpener,
      ...(dpop === undefined ? {} : { dpop }),
    });
    return { provider, dir };
  }

  /** The documented v2 pattern: connect, on UnauthorizedError finish the flow, connect again. */
  async function connectV2(path: string, provider: PortcullisOAuthProvider): Promise<Client> {
    const url = new URL(`${origin}${path}`);
    const first = new Client({ name: 'sdk-v2', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
    try {
      await first.connect(transport);
      return first;
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
    }
    const code = await provider.waitForAuthorizationCode();
    await transport.finishAuth(
      code,
      provider.discoveryState()?.authorizationServerMetadata?.issuer,
    );
    const second = new Client({ name: 'sdk-v2', version: '1.0.0' });
    await second.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    return second;
  }

  it('auto: a DPoP-bound token (token_type DPoP, cnf.jkt of the stored key), tools on a DPoP-only route, the key sealed at rest', async () => {
    const { provider, dir } = await providerFor('/strict', undefined);
    try {
      const client = await connectV2('/strict', provider);
      const result = await client.callTool({ name: 'pid', arguments: {} });
      assert.match(JSON.stringify(result), /\d+/);
      await client.callTool({ name: 'pid', arguments: {} });
      await client.close();

      const tokens = await provider.tokens();
      assert.equal(tokens?.token_type, 'DPoP');
      const record = await TokenStore.open(dir, { env: {} }).readServer(
        new URL(`${origin}/strict`).href,
      );
      const issuer = String(record?.issuer);
      const key = record?.dpopKeys?.[issuer];
      assert.ok(key, 'one key stored for (server, issuer)');
      assert.deepEqual(decodeJwt(String(tokens?.access_token)).cnf, { jkt: key.jkt });
      assert.equal((await provider.dpop())?.thumbprint, key.jkt);

      // Encrypted at rest: neither the private key, nor its thumbprint, nor the token in clear.
      const bytes = storeBytes(dir);
      assert.ok(typeof key.private_jwk.d === 'string' && key.private_jwk.d.length > 20);
      assert.ok(!bytes.includes(key.private_jwk.d), 'private key in clear');
      assert.ok(!bytes.includes(key.jkt), 'thumbprint in clear');
      assert.ok(!bytes.includes(String(tokens?.access_token)), 'token in clear');
    } finally {
      await provider.close();
    }
  });

  it('a new provider on the same store refreshes the bound tokens with the stored key and presents them (no new sign-in)', async () => {
    const dir = tempDir();
    const serverUrl = new URL(`${origin}/strict`).href;
    const first = await providerFor('/strict', 'auto', dir);
    try {
      await (await connectV2('/strict', first.provider)).close();
    } finally {
      await first.provider.close();
    }
    // The next process finds the access token about to expire: it refreshes before use, and a
    // public client's refresh token is bound to the key (RFC 9449 §5), so the stored key signs.
    const store = TokenStore.open(dir, { env: {} });
    const before = await store.readServer(serverUrl);
    const issuer = String(before?.issuer);
    const old = before?.tokens?.[issuer];
    assert.equal(old?.token_type, 'DPoP');
    assert.ok(old?.refresh_token, 'a refresh token was issued');
    await store.updateServer(serverUrl, (record) =>
      record && old
        ? { ...record, tokens: { [issuer]: { ...old, expires_at: Date.now() + 1000 } } }
        : record,
    );
    const second = await providerFor('/strict', 'auto', dir);
    let discovered = true;
    try {
      const client = new Client({ name: 'sdk-v2', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: second.provider }),
      );
      await client.callTool({ name: 'pid', arguments: {} });
      await client.close();
      discovered = second.provider.discoveryState() !== undefined;
    } finally {
      await second.provider.close();
    }
    assert.equal(discovered, false, 'no discovery or authorization was needed');
    const after = (await store.readServer(serverUrl))?.tokens?.[issuer];
    assert.equal(after?.token_type, 'DPoP');
    assert.notEqual(after?.access_token, old?.access_token, 'refreshed');
    assert.notEqual(after?.refresh_token, old?.refresh_token, 'rotated');
    assert.deepEqual(decodeJwt(String(after?.access_token)).cnf, {
      jkt: before?.dpopKeys?.[issuer]?.jkt,
    });
  });

  it('off: no bearer token for the DPoP-only route (no downgrade), nothing stored', async () => {
    const { provider, dir } = await providerFor('/strict', 'off');
    try {
      // The token endpoint answers invalid_dpop_proof; the SDK then retries the spent code once
      // (and is told invalid_grant): either way no token is issued.
      await assert.rejects(
        connectV2('/strict', provider),
        (error) =>
          error instanceof OAuthError &&
          ['invalid_dpop_proof', 'invalid_grant'].includes(String(error.code)),
      );
      const record = await TokenStore.open(dir, { env: {} }).readServer(
        new URL(`${origin}/strict`).href,
      );
      assert.deepEqual(record?.tokens ?? {}, {}, 'no token stored');
      assert.equal(record?.dpopKeys, undefined, 'no key made');
    } finally {
      await provider.close();
    }
  });

  it('off (positive control of the mode): a bearer token where DPoP is only allowed', async () => {
    const { provider, dir } = await providerFor('/mcp', 'off');
    try {
      const client = await connectV2('/mcp', provider);
      await client.callTool({ name: 'pid', arguments: {} });
      await client.close();
      assert.equal((await provider.tokens())?.token_type, 'Bearer');
      assert.equal(await provider.dpop(), undefined);
      const record = await TokenStore.open(dir, { env: {} }).readServer(
        new URL(`${origin}/mcp`).href,
      );
      assert.equal(record?.dpopKeys, undefined, 'no key made');
    } finally {
      await provider.close();
    }
  });

  it('required with the v1 SDK (no dpop() hook): the bearer token it gets is refused, not stored', async () => {
    const { provider, dir } = await providerFor('/mcp', 'required');
    try {
      const url = new URL(`${origin}/mcp`);
      const transport = new TransportV1(url, { authProvider: provider });
      await assert.rejects(
        new ClientV1({ name: 'sdk-v1', version: '1.0.0' }).connect(transport),
        (error) => error instanceof UnauthorizedErrorV1,
      );
      await assert.rejects(
        transport.finishAuth(await provider.waitForAuthorizationCode()),
        (error) =>
          isClientError(error) &&
          error.code === 'ClientTokenRequestFailed' &&
          /DPoP is required/.test(error.message),
      );
      const record = await TokenStore.open(dir, { env: {} }).readServer(url.href);
      assert.deepEqual(record?.tokens ?? {}, {}, 'nothing stored');
    } finally {
      await provider.close();
    }
  });

  it('positive control: required with the v2 SDK gets a DPoP token and calls a tool', async () => {
    const { provider } = await providerFor('/mcp', 'required');
    try {
      const client = await connectV2('/mcp', provider);
      await client.callTool({ name: 'pid', arguments: {} });
      await client.close();
      assert.equal((await provider.tokens())?.token_type, 'DPoP');
    } finally {
      await provider.close();
    }
  });
});
