/**
 * Federated sign-in end to end with Glewlwyd (Debian's standalone C OpenID Connect server,
 * started by the test with its own SQLite database, its client and users created through its
 * admin API) in real Chromium: the MCP SDK client → 401 → Portcullis's authorization server →
 * the Glewlwyd button → Glewlwyd's own login app → back → Portcullis consent → token → a tool
 * call through the gateway to a recording upstream that receives the person's Glewlwyd access
 * token (identity_provider_token), never the Portcullis token. A person outside every claim rule
 * is refused; ID tokens forged with a wrong nonce, aud or iss are refused and no code is issued.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Page } from 'playwright-core';
import { stringify } from 'yaml';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { federatedSubject } from '../../src/authorization-server/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/log.ts';
import { signInThroughProvider } from '../federation/browser-flow.ts';
import { type Glewlwyd, SKIP_WITHOUT_GLEWLWYD, startGlewlwyd } from '../federation/glewlwyd.ts';
import {
  callbackServer,
  launchChromium,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { HMAC_SECRET, REPO_ROOT, tempDir } from '../helpers/cli.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const USERS = [
  { username: 'gwen', password: 'gwen-password-1', name: 'Gwen', email: 'gwen@example.com' },
  { username: 'olaf', password: 'olaf-password-1', name: 'Olaf', email: 'olaf@elsewhere.test' },
] as const;

/** Glewlwyd's login web app: username, password, OK; then Continue to the client. */
const glewlwydLogin = (glewlwyd: Glewlwyd, username: string, password: string) => {
  return async (page: Page) => {
    await page.waitForURL((url) => url.href.startsWith(new URL(glewlwyd.issuer).origin));
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(password);
    await page.getByRole('button', { name: 'OK', exact: true }).click();
    // Glewlwyd's button carries its own aria-label; its visible text is what a person reads.
    await page.locator('button', { hasText: 'Continue' }).click();
  };
};

const skip = SKIP_WITHOUT_CHROMIUM || SKIP_WITHOUT_GLEWLWYD;

describe('federated sign-in at Glewlwyd, through the gateway, in Chromium', { skip }, () => {
  let glewlwyd: Glewlwyd;
  let files: RecordingUpstream;
  let portcullis: RunningPortcullis;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let callback: Awaited<ReturnType<typeof callbackServer>>;
  let origin: string;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    glewlwyd = await startGlewlwyd({ redirectUri: `${origin}/oauth/idp/callback`, users: USERS });
    files = await startRecordingUpstream();
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
          tool_scopes: { read_file: 'files:read', write_file: 'files:write' },
          credentials: { type: 'identity_provider_token', provider: 'glewlwyd' },
        },
      ],
      authorization_server: {
        enabled: true,
        provider_token_keys_env: 'PROVIDER_TOKEN_KEYS',
        identity_providers: [
          {
            name: 'glewlwyd',
            issuer: glewlwyd.issuer,
            client_id: glewlwyd.clientId,
            client_secret_env: 'GLEWLWYD_SECRET',
            scopes: ['openid'],
            display_name: 'Glewlwyd',
            claim_rules: [{ claim: 'email', ends_with: '@example.com', scopes: ['files:read'] }],
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
        GLEWLWYD_SECRET: glewlwyd.clientSecret,
      },
    });
    portcullis = await startPortcullis(loaded, {
      logger: createLogger({ level: 'silent' }),
      audit: false,
      cwd,
    });
    browser = await launchChromium();
    callback = await callbackServer();
  });

  after(async () => {
    await browser?.close();
    await callback?.close();
    await portcullis?.close();
    await files?.close();
    await glewlwyd?.stop();
  });

  async function startClient() {
    const provider = new TestProvider(callback.url);
    const client = new Client({ name: 'glewlwyd-e2e', version: '1.0.0' });
    const url = new URL(`${origin}/mcp`);
    await assert.rejects(
      client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider })),
      UnauthorizedError,
    );
    assert.ok(provider.authorizationUrl);
    return { provider, client, url, authorizationUrl: provider.authorizationUrl };
  }

  it('Gwen signs in at Glewlwyd; the upstream gets her Glewlwyd token, never the Portcullis token', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient();
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Glewlwyd',
      providerLogin: glewlwydLogin(glewlwyd, 'gwen', 'gwen-password-1'),
      callbackUrl: callback.url,
      screenshots: {
        login: join(ARTIFACTS, 'federation-glewlwyd-login.png'),
        consent: join(ARTIFACTS, 'federation-glewlwyd-consent.png'),
      },
    });
    assert.equal(outcome.kind, 'code', outcome.kind === 'refused' ? outcome.text : '');
    if (outcome.kind !== 'code') return;
    assert.match(outcome.consentText, /gwen@example\.com \(Glewlwyd\)/);
    assert.match(outcome.consentText, /files:read/);
    assert.doesNotMatch(outcome.consentText, /files:write/, 'only what the claim rules allow');
    await new StreamableHTTPClientTransport(started.url, {
      authProvider: started.provider,
    }).finishAuth(outcome.callback.searchParams.get('code') ?? '');
    const portcullisToken = started.provider.tokens()?.access_token ?? '';
    assert.match(started.provider.tokens()?.scope ?? '', /^files:read$/);
    await started.client.connect(
      new StreamableHTTPClientTransport(started.url, { authProvider: started.provider }),
    );
    const result = await started.client.callTool({ name: 'read_file', arguments: { path: 'g' } });
    assert.match(JSON.stringify(result.content), /contents of g/);
    const keys = createRemoteJWKSet(new URL(`${glewlwyd.issuer}/jwks`));
    for (const request of files.requests) {
      const header = request.headers.authorization ?? '';
      assert.ok(header.startsWith('Bearer '), header);
      const token = header.slice('Bearer '.length);
      assert.notEqual(token, portcullisToken);
      assert.ok(glewlwyd.issuedAccessTokens.has(token), 'a token Glewlwyd issued');
      // Glewlwyd's access tokens are JWTs it signed, for Gwen (the same `sub` as her ID token).
      const { payload } = await jwtVerify(token, keys, { issuer: glewlwyd.issuer });
      const subject = federatedSubject(glewlwyd.issuer, String(payload.sub));
      const identity = await portcullis.store?.getFederatedIdentity(subject);
      assert.equal(identity?.label, 'gwen@example.com');
    }
    assert.ok(files.requests.length > 0);
    await started.client.close();
  });

  it('Olaf (outside every claim rule) is refused: a clear page, no code', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient();
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Glewlwyd',
      providerLogin: glewlwydLogin(glewlwyd, 'olaf', 'olaf-password-1'),
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
    );
  });

  for (const [forge, problem] of [
    ['nonce', /nonce/],
    ['aud', /aud/],
    ['iss', /issued by|iss/],
  ] as const) {
    it(`an ID token forged with a wrong ${forge} is refused, no code`, {
      timeout: 120_000,
    }, async () => {
      const started = await startClient();
      const before = callback.received.length;
      glewlwyd.forge = forge;
      try {
        const outcome = await signInThroughProvider(browser.context, {
          authorizationUrl: started.authorizationUrl,
          button: 'Glewlwyd',
          providerLogin: glewlwydLogin(glewlwyd, 'gwen', 'gwen-password-1'),
          callbackUrl: callback.url,
        });
        assert.equal(outcome.kind, 'refused');
        if (outcome.kind !== 'refused') return;
        assert.equal(outcome.status, 502);
        assert.match(outcome.text, problem);
        assert.equal(callback.received.length, before, 'nothing reached the client');
      } finally {
        glewlwyd.forge = undefined;
      }
    });
  }

  it('positive control: Gwen signs in again with a genuine ID token', {
    timeout: 120_000,
  }, async () => {
    const started = await startClient();
    const outcome = await signInThroughProvider(browser.context, {
      authorizationUrl: started.authorizationUrl,
      button: 'Glewlwyd',
      providerLogin: glewlwydLogin(glewlwyd, 'gwen', 'gwen-password-1'),
      callbackUrl: callback.url,
    });
    assert.equal(outcome.kind, 'code');
  });
});
