/**
 * Federated sign-in end to end with a real OpenID provider nobody here wrote (node-oidc-provider
 * as a separate issuer, its own login page) and real Chromium: the MCP SDK client → 401 →
 * Portcullis's authorization server → the provider's button → the provider's login page → back
 * → Portcullis consent → token → tool calls through the gateway to recording upstreams, which
 * receive the person's provider token (identity_provider_token) or one exchanged for it at the
 * provider (RFC 8693 token_exchange), never the Portcullis token. Also: a person outside every
 * claim rule is refused; forged ID tokens (wrong nonce, aud, iss) are refused with no code; a
 * provider that ends the person's grant stops their upstream calls, and so does withdrawing
 * consent at Portcullis. Screenshots of the sign-in page (two providers and local sign-in) and
 * the consent page go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Page } from 'playwright-core';
import { stringify } from 'yaml';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { setUserPassword } from '../../src/authorization-server/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/log.ts';
import { signInThroughProvider } from '../federation/browser-flow.ts';
import { type OidcIdp, startOidcIdp } from '../federation/oidc-idp.ts';
import {
  callbackServer,
  launchChromium,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { HMAC_SECRET, REPO_ROOT, tempDir } from '../helpers/cli.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const TOOL_SCOPES = { read_file: 'files:read', write_file: 'files:write' };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const PEOPLE = {
  alice: { email: 'alice@example.com', name: 'Alice', groups: ['mcp-users'] },
  bob: { email: 'bob@example.com', name: 'Bob', groups: ['mcp-users'] },
  carol: { email: 'carol@example.com', name: 'Carol', groups: ['mcp-users'] },
  dave: { email: 'dave@example.com', name: 'Dave', groups: ['mcp-users'] },
  erin: { email: 'erin@example.com', name: 'Erin', groups: ['mcp-users'] },
  mallory: { email: 'mallory@elsewhere.test', name: 'Mallory', groups: ['visitors'] },
};

/** The provider's own login page (devInteractions): any password, the login is the account. */
const idpLogin = (idp: OidcIdp, login: string) => async (page: Page) => {
  await page.waitForURL((url) => url.href.startsWith(idp.issuer));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any-password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
};

describe('federated sign-in at oidc-provider, through the gateway, in Chromium', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let acme: OidcIdp;
  let partner: OidcIdp;
  let files: RecordingUpstream;
  let reports: RecordingUpstream;
  let portcullis: RunningPortcullis;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let callback: Awaited<ReturnType<typeof callbackServer>>;
  let origin: string;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const redirectUri = `${origin}/oauth/idp/callback`;
    acme = await startOidcIdp({ redirectUri, people: PEOPLE });
    partner = await startOidcIdp({ redirectUri, people: PEOPLE });
    files = await startRecordingUpstream();
    reports = await startRecordingUpstream();
    const cwd = tempDir();
    const document = {
      remote_mcp: {
        enabled: true,
        bind_address: `127.0.0.1:${port}`,
        allowed_scopes: ['files:read', 'files:write'],
        token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
        rate_limit_max_requests: 10_000,
      },
      safety: { remote_mcp_enabled: true },
      upstreams: [
        {
          name: 'files',
          path: '/mcp',
          url: files.url,
          tool_scopes: TOOL_SCOPES,
          credentials: { type: 'identity_provider_token', provider: 'acme' },
        },
        {
          name: 'reports',
          path: '/reports',
          url: reports.url,
          tool_scopes: TOOL_SCOPES,
          credentials: {
            type: 'token_exchange',
            provider: 'acme',
            audience: 'https://reports.example',
          },
        },
      ],
      authorization_server: {
        enabled: true,
        provider_token_keys_env: 'PROVIDER_TOKEN_KEYS',
        identity_providers: [
          {
            name: 'acme',
            issuer: acme.issuer,
            client_id: acme.clientId,
            client_secret_env: 'ACME_SECRET',
            display_name: 'Acme SSO',
            claim_rules: [
              { claim: 'groups', contains: 'mcp-users', scopes: ['files:read'] },
              { claim: 'email', ends_with: '@example.com', scopes: ['files:write'] },
            ],
          },
          {
            name: 'partner',
            issuer: partner.issuer,
            client_id: partner.clientId,
            client_secret_env: 'PARTNER_SECRET',
            token_endpoint_auth_method: 'client_secret_post',
            display_name: 'Partner ID',
          },
        ],
      },
      store: { sqlite: join(cwd, 'store.db') },
      development: { allow_loopback_urls: true },
    };
    const loaded = loadConfigText(stringify(document), {
      env: {
        TEST_HMAC_SECRET: HMAC_SECRET,
        PROVIDER_TOKEN_KEYS: 'provider-token-key-0123456789abcdefghijklmnop',
        ACME_SECRET: acme.clientSecret,
        PARTNER_SECRET: partner.clientSecret,
      },
    });
    portcullis = await startPortcullis(loaded, {
      logger: createLogger({ level: 'silent' }),
      audit: false,
      cwd,
    });
    // A local account too: the sign-in page then offers the password form beside the buttons.
    assert.ok(portcullis.store);
    await setUserPassword(portcullis.store, 'operator', 'operator-password-123', Date.now());
    browser = await launchChromium();
    callback = await callbackServer();
  });

  after(async () => {
    await browser?.close();
    await callback?.close();
    await portcullis?.close();
    await files?.close();
    await reports?.close();
    await acme?.close();
    await partner?.close();
  });

  /** 401 → discovery → registration → the authorization URL the SDK would open. */
  async function startClient(path: string) {
    const provider = new TestProvider(callback.url);
    const client = new Client({ name: 'federation-e2e', version: '1.0.0' });
    const url = new URL(`${origin}${path}`);
    await assert.rejects(
      client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider })),
      UnauthorizedError,
    );
    assert.ok(provider.authorizationUrl);
    return { provider, client, url, authorizationUrl: provider.authorizationUrl };
  }

  async function finish(started: Awaited<ReturnType<typeof startClient>>, code: string) {
    await new StreamableHTTPClientTransport(started.url, {
      authProvider: started.provider,
    }).finishAuth(code);
    await started.client.connect(
      new StreamableHTTPClientTransport(started.url, { authProvider: started.provider }),
    );
    return started.provider.tokens()?.access_token ?? '';
  }

  const bearerOf = (upstream: RecordingUpstream) =>
    upstream.requests.map((request) => request.headers.authorization);

  it('identity_provider_token: the upstream gets the person’s Acme token, never the Portcullis token', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient('/mcp');
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Acme SSO',
      providerLogin: idpLogin(acme, 'alice'),
      callbackUrl: callback.url,
      screenshots: {
        login: join(ARTIFACTS, 'federation-login.png'),
        consent: join(ARTIFACTS, 'federation-consent.png'),
      },
    });
    assert.equal(outcome.kind, 'code');
    if (outcome.kind !== 'code') return;
    // Consent at Portcullis names the client and the scopes the claim rules allow.
    assert.match(outcome.consentText, /Portcullis e2e client/);
    assert.match(outcome.consentText, /files:read/);
    const portcullisToken = await finish(started, outcome.callback.searchParams.get('code') ?? '');
    const before = files.requests.length;
    const result = await started.client.callTool({ name: 'read_file', arguments: { path: 'a' } });
    assert.match(JSON.stringify(result.content), /contents of a/);
    const seen = bearerOf(files).slice(before);
    assert.ok(seen.length > 0);
    for (const header of seen) {
      assert.ok(header?.startsWith('Bearer '), String(header));
      const token = (header ?? '').slice('Bearer '.length);
      assert.ok(acme.issuedAccessTokens.has(token), 'a token Acme issued');
      assert.notEqual(token, portcullisToken);
    }
    for (const request of files.requests) {
      assert.ok(!JSON.stringify(request.headers).includes(portcullisToken));
    }
    await started.client.close();
  });

  it('token_exchange: the upstream gets a token Acme exchanged for its audience', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient('/reports');
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Acme SSO',
      providerLogin: idpLogin(acme, 'bob'),
      callbackUrl: callback.url,
    });
    assert.equal(outcome.kind, 'code');
    if (outcome.kind !== 'code') return;
    const portcullisToken = await finish(started, outcome.callback.searchParams.get('code') ?? '');
    const before = reports.requests.length;
    await started.client.callTool({ name: 'read_file', arguments: { path: 'b' } });
    await started.client.callTool({ name: 'read_file', arguments: { path: 'c' } });
    const tokens = new Set(
      bearerOf(reports)
        .slice(before)
        .map((header) => header?.slice('Bearer '.length) ?? ''),
    );
    // Cached: one exchange serves every call until shortly before it expires.
    assert.equal(tokens.size, 1);
    const [token] = [...tokens];
    const exchange = acme.exchanged.get(token ?? '');
    assert.ok(exchange, 'a token from the exchange grant');
    assert.equal(exchange.audience, 'https://reports.example');
    assert.ok(acme.issuedAccessTokens.has(exchange.subjectToken), 'exchanged for Bob’s token');
    assert.notEqual(token, portcullisToken);
    await started.client.close();
  });

  it('a person outside every claim rule is refused: a clear page, no code', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient('/mcp');
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Acme SSO',
      providerLogin: idpLogin(acme, 'mallory'),
      callbackUrl: callback.url,
    });
    assert.equal(outcome.kind, 'refused');
    if (outcome.kind !== 'refused') return;
    assert.equal(outcome.status, 403);
    assert.match(outcome.text, /not allowed to use this service/);
    assert.ok(
      !callback.received.some(
        (url) => url.searchParams.get('state') === started.provider.expectedState,
      ),
      'nothing reached the client',
    );
  });

  const FORGERIES = [
    { forge: 'nonce', problem: /nonce/ },
    { forge: 'aud', problem: /aud/ },
    { forge: 'iss', problem: /issued by|iss/ },
  ] as const;

  for (const { forge, problem } of FORGERIES) {
    it(`an ID token forged by the provider with a wrong ${forge} is refused, no code`, {
      timeout: 120_000,
    }, async () => {
      const started = await startClient('/mcp');
      const codesBefore = callback.received.length;
      acme.forge = forge;
      try {
        const outcome = await signInThroughProvider(browser.context, {
          authorizationUrl: started.authorizationUrl,
          button: 'Acme SSO',
          providerLogin: idpLogin(acme, 'carol'),
          callbackUrl: callback.url,
        });
        assert.equal(outcome.kind, 'refused');
        if (outcome.kind !== 'refused') return;
        assert.equal(outcome.status, 502);
        assert.match(outcome.text, problem);
        assert.equal(callback.received.length, codesBefore, 'nothing reached the client');
      } finally {
        acme.forge = undefined;
      }
    });
  }

  it('positive control after the forgeries: Carol signs in with a genuine ID token', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient('/mcp');
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Acme SSO',
      providerLogin: idpLogin(acme, 'carol'),
      callbackUrl: callback.url,
    });
    assert.equal(outcome.kind, 'code');
  });

  it('revocation follows the person: a provider refresh answered invalid_grant, or consent withdrawn, stops upstream calls', {
    timeout: 120_000,
  }, async () => {
    // Dave's Acme tokens live 30 s: every upstream call refreshes them first.
    acme.shortLivedAccessTokens = true;
    const started = await startClient('/mcp');
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Acme SSO',
      providerLogin: idpLogin(acme, 'dave'),
      callbackUrl: callback.url,
    });
    assert.equal(outcome.kind, 'code');
    if (outcome.kind !== 'code') return;
    const portcullisToken = await finish(started, outcome.callback.searchParams.get('code') ?? '');
    const refreshedBefore = acme.issuedAccessTokens.size;
    await started.client.callTool({ name: 'read_file', arguments: { path: 'd' } });
    assert.ok(acme.issuedAccessTokens.size > refreshedBefore, 'Portcullis refreshed at Acme');

    // Acme ends Dave's grant: the next refresh gets invalid_grant.
    await acme.revokeRefreshTokensOf('dave');
    const before = files.requests.length;
    const refused = (await started.client
      .callTool({ name: 'read_file', arguments: { path: 'e' } })
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )) as { error?: { code?: number; message?: string; data?: unknown } };
    assert.ok(refused.error, 'the call failed');
    // The MCP way to send the person to sign in again: a URL elicitation.
    assert.equal(refused.error.code, -32042);
    assert.match(JSON.stringify(refused.error.data), /\/oauth\/login\?prompt=login/);
    assert.equal(files.requests.length, before, 'the upstream saw nothing');
    // Dave's grants here ended with the provider's: his Portcullis token is now refused.
    const ping = await fetch(`${origin}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${portcullisToken}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    assert.equal(ping.status, 401);
    assert.equal(files.requests.length, before, 'the upstream saw nothing');
    acme.shortLivedAccessTokens = false;
  });

  it('signing out at Portcullis drops the provider tokens: the upstream calls stop, the upstream sees nothing', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient('/mcp');
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Acme SSO',
      providerLogin: idpLogin(acme, 'erin'),
      callbackUrl: callback.url,
    });
    assert.equal(outcome.kind, 'code');
    if (outcome.kind !== 'code') return;
    await finish(started, outcome.callback.searchParams.get('code') ?? '');
    await started.client.callTool({ name: 'read_file', arguments: { path: 'f' } });

    // Erin signs out on her account page (the browser still holds her session).
    const page = await browser.context.newPage();
    try {
      await page.goto(`${origin}/oauth/account`);
      assert.match((await page.textContent('main')) ?? '', /erin@example\.com/);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/oauth\/login/);
    } finally {
      await page.close();
    }
    const before = files.requests.length;
    const refused = (await started.client
      .callTool({ name: 'read_file', arguments: { path: 'g' } })
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )) as { error?: { code?: number; data?: unknown } };
    assert.equal(refused.error?.code, -32042, 'sign in again: a URL elicitation');
    assert.equal(files.requests.length, before, 'the upstream saw nothing');
    await started.client.close();
  });

  it('the local password form is offered beside the buttons', async () => {
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    try {
      await page.goto(`${origin}/oauth/login`);
      assert.ok(await page.getByRole('link', { name: 'Acme SSO', exact: true }).isVisible());
      assert.ok(await page.getByRole('link', { name: 'Partner ID', exact: true }).isVisible());
      assert.ok(await page.getByLabel('Username').isVisible());
      await page.getByLabel('Username').fill('operator');
      await page.getByLabel('Password').fill('operator-password-123');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(/\/oauth\/account/);
    } finally {
      await page.close();
    }
  });
});
