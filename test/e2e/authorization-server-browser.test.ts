/**
 * End to end against the authorization server alone, with real peers: the official MCP SDK
 * client (StreamableHTTPClientTransport + OAuthClientProvider) does 401 → discovery → dynamic
 * registration (or a client ID metadata document) → authorization, with the login and consent
 * pages driven in real Chromium (playwright-core, Debian's /usr/bin/chromium) → token → a tool
 * call, then a refresh after the access token expires. The protected MCP endpoint is a test
 * stand-in (protected-endpoint.ts); the run through the gateway comes at integration.
 * Screenshots of the login and consent pages go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { BrowserContext } from 'playwright-core';
import { DocumentServer } from '../authorization-server/document-server.ts';
import { createHarness, type Harness, PASSWORD } from '../authorization-server/harness.ts';
import {
  type ProtectedEndpoint,
  protectedEndpoint,
} from '../authorization-server/protected-endpoint.ts';
import {
  callbackServer,
  launchChromium,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

interface Scenario {
  readonly name: string;
  readonly artifactPrefix: string;
  /** Client information to start with (a metadata document URL), or none (registration). */
  readonly preset?: (callback: string) => OAuthClientInformationMixed;
  readonly expectedClientName: string;
}

describe('MCP SDK client + Chromium against the authorization server', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let h: Harness;
  let endpoint: ProtectedEndpoint;
  let docs: DocumentServer;
  let context: BrowserContext;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    docs = await new DocumentServer().start();
    let harness: Harness | undefined;
    endpoint = protectedEndpoint({
      origin: () => harness?.url ?? '',
      as: () => {
        if (harness === undefined) throw new Error('not started');
        return harness.as;
      },
      now: () => harness?.clock.now ?? Date.now(),
      scopes: ['files:read'],
    });
    harness = await createHarness({
      store: 'sqlite',
      edit: (document) => {
        document.development = { allow_loopback_urls: true };
      },
      extra: (request) => endpoint.handle(request),
    });
    h = harness;
    // Real time for the browser-facing steps: the harness clock starts now.
    h.clock.now = Date.now();
    browser = await launchChromium();
    context = browser.context;
  });

  after(async () => {
    await browser?.close();
    await h?.close();
    await docs?.close();
  });

  const scenarios: Scenario[] = [
    {
      name: 'dynamic client registration',
      artifactPrefix: 'dcr',
      expectedClientName: 'Portcullis e2e client',
    },
    {
      name: 'a client ID metadata document served on loopback (development switch)',
      artifactPrefix: 'cimd',
      // The SDK takes a metadata document URL only over https (isHttpsUrl), so the loopback
      // document's URL is handed to it as the client id; the server still fetches and checks it.
      preset: (callback) => ({
        client_id: docs.document('/client.json', {
          client_name: 'Portcullis CIMD client',
          redirect_uris: [callback],
          scope: 'files:read',
        }),
      }),
      expectedClientName: 'Portcullis CIMD client',
    },
  ];

  for (const scenario of scenarios) {
    it(`401 → discovery → ${scenario.name} → login and consent → token → tool call → refresh`, {
      timeout: 120_000,
    }, async () => {
      const callback = await callbackServer();
      const provider = new TestProvider(callback.url, scenario.preset?.(callback.url));
      const mcpUrl = new URL(`${h.url}/mcp`);
      const client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
      try {
        // 1. The protected endpoint answers 401; the SDK discovers, registers, and redirects.
        await assert.rejects(
          client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })),
          UnauthorizedError,
        );
        const authorizationUrl = provider.authorizationUrl;
        assert.ok(authorizationUrl, 'the SDK produced an authorization URL');
        assert.equal(
          `${authorizationUrl.origin}${authorizationUrl.pathname}`,
          `${h.url}/oauth/authorize`,
        );
        assert.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256');
        assert.equal(authorizationUrl.searchParams.get('resource'), `${h.url}/mcp`);
        const clientId = authorizationUrl.searchParams.get('client_id') ?? '';
        if (scenario.preset === undefined)
          assert.match(clientId, /^dyn_/, 'registered dynamically');
        else assert.equal(clientId, `${docs.url}/client.json`);

        // 2. A person signs in and consents, in a real browser.
        await context.clearCookies();
        const page = await context.newPage();
        await page.goto(authorizationUrl.href);
        await page.getByLabel('Username').fill('alice');
        await page.getByLabel('Password').fill(PASSWORD);
        await page.screenshot({ path: join(ARTIFACTS, `${scenario.artifactPrefix}-login.png`) });
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL(/\/oauth\/consent\?/);
        const consent = await page.textContent('main');
        assert.match(consent ?? '', new RegExp(scenario.expectedClientName));
        assert.match(consent ?? '', /127\.0\.0\.1:\d+/, 'the redirect host is shown');
        assert.match(consent ?? '', /files:read/);
        assert.match(consent ?? '', /Warning:/, 'localhost redirect warning');
        await page.screenshot({
          path: join(ARTIFACTS, `${scenario.artifactPrefix}-consent.png`),
          fullPage: true,
        });
        await Promise.all([
          page.waitForURL(`${callback.url}?**`),
          page.getByRole('button', { name: 'Allow' }).click(),
        ]);
        await page.close();

        // 3. The callback got code, state and iss; the client checks state and iss itself.
        const landed = callback.received.find((url) => url.pathname === '/callback');
        assert.ok(landed);
        assert.equal(landed.searchParams.get('state'), provider.expectedState);
        assert.equal(landed.searchParams.get('iss'), h.issuer);
        const code = landed.searchParams.get('code');
        assert.ok(code);

        // 4. Token exchange through the SDK, then a tool call on a fresh transport.
        await new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }).finishAuth(
          code,
        );
        const first = provider.tokens();
        assert.ok(first?.access_token && first.refresh_token);
        await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
        const result = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
        assert.deepEqual(result.content, [{ type: 'text', text: 'alice: hello' }]);

        // 5. The access token expires (15 min); the next call refreshes and goes through.
        h.clock.advance(16 * 60_000);
        const later = await client.callTool({ name: 'echo', arguments: { text: 'later' } });
        assert.deepEqual(later.content, [{ type: 'text', text: 'alice: later' }]);
        const second = provider.tokens();
        assert.notEqual(second?.access_token, first.access_token, 'a new access token');
        assert.notEqual(second?.refresh_token, first.refresh_token, 'the refresh token rotated');
        assert.equal(endpoint.calls.filter((call) => call.subject === 'alice').length >= 2, true);
      } finally {
        await client.close();
        await callback.close();
      }
    });
  }
});
