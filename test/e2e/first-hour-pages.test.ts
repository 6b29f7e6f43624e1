/**
 * The pages a person meets, in real Chromium against `portcullis serve` (gateway + co-located
 * authorization server, server-everything over stdio), with the official MCP SDK client:
 * login, consent, account and admin pages — what each shows, that each action works (revoke on
 * the account page → the token is refused at the gateway; disable a client on the admin page →
 * its next token request fails), an axe-core accessibility check on each, and a screenshot of
 * each in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { refreshAuthorization, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type OAuthClientInformationMixed,
  OAuthMetadataSchema,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { stringify } from 'yaml';
import {
  CHROMIUM,
  callbackServer,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { CLI_ENTRY, HMAC_SECRET, REPO_ROOT, tempDir } from '../helpers/cli.ts';
import { EVERYTHING_ENTRY } from '../helpers/gateway.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const AXE = join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const ADMIN_PASSWORD = 'admin password 123';
const ERIN_PASSWORD = 'erin password 456';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function cli(args: string[], cwd: string, input?: string): void {
  const result = spawnSync(process.execPath, [CLI_ENTRY, ...args], {
    cwd,
    env: { PATH: process.env.PATH, TEST_HMAC_SECRET: HMAC_SECRET },
    encoding: 'utf8',
    timeout: 60_000,
    ...(input === undefined ? {} : { input }),
  });
  assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
}

/**
 * axe-core, injected into the page (the page's CSP allows no script, so the context bypasses
 * CSP for the check only): WCAG 2.x A/AA rules and best practices, including labels, contrast,
 * landmarks and focusable controls. Returns the violations, described.
 */
async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const results = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run: (context: unknown, options: unknown) => Promise<unknown> };
      }
    ).axe;
    return axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: {
        type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
      },
    });
  });
  const { violations } = results as {
    violations: { id: string; help: string; nodes: { target: string[] }[] }[];
  };
  return violations.map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`,
  );
}

async function checkPage(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `first-hour-${name}.png`), fullPage: true });
  assert.deepEqual(await accessibilityViolations(page), [], `${name} page accessibility`);
}

describe('the first hour in a browser: login, consent, account and admin pages', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let browser: Browser;
  let context: BrowserContext;
  let child: ChildProcess;
  let origin: string;
  let mcpUrl: string;
  let stderr = '';

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const cwd = tempDir();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    mcpUrl = `${origin}/mcp`;
    const config = join(cwd, 'portcullis.yaml');
    writeFileSync(
      config,
      stringify({
        remote_mcp: {
          enabled: true,
          bind_address: `127.0.0.1:${port}`,
          allowed_scopes: ['mcp:tools', 'mcp:resources'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
        },
        safety: { remote_mcp_enabled: true },
        upstreams: [
          {
            name: 'everything',
            path: '/mcp',
            command: process.execPath,
            args: [EVERYTHING_ENTRY, 'stdio'],
            tool_scopes: { '*': 'mcp:tools' },
            method_scopes: { resources: 'mcp:resources' },
          },
        ],
        authorization_server: {
          enabled: true,
          display_name: 'Acme Files',
          accent_color: '#6b2c91',
          scope_descriptions: {
            'mcp:tools': 'List the tools of Acme Files and call them',
            'mcp:resources': 'Read your documents',
          },
        },
        store: { sqlite: join(cwd, 'data', 'store.db') },
        audit: { path: join(cwd, 'data', 'audit.jsonl') },
      }),
    );
    cli(
      ['users', 'add', 'root', '--role', 'admin', '--password-stdin', '--config', config],
      cwd,
      `${ADMIN_PASSWORD}\n`,
    );
    cli(
      ['users', 'add', 'erin', '--password-stdin', '--config', config],
      cwd,
      `${ERIN_PASSWORD}\n`,
    );
    child = spawn(
      process.execPath,
      [CLI_ENTRY, 'serve', '--config', config, '--enable-remote-mcp'],
      {
        cwd,
        env: {
          PATH: process.env.PATH ?? '',
          TEST_HMAC_SECRET: HMAC_SECRET,
          PORTCULLIS_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('authorization server http')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({ bypassCSP: true, viewport: { width: 1100, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  const ping = (token: string) =>
    fetch(mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });

  /** 401 → discovery → dynamic registration: the authorization URL the SDK would open. */
  async function startAuthorization(provider: TestProvider): Promise<URL> {
    const client = new Client({ name: 'first-hour', version: '1.0.0' });
    await assert.rejects(
      client.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
      ),
      UnauthorizedError,
    );
    assert.ok(provider.authorizationUrl);
    return provider.authorizationUrl;
  }

  async function finish(provider: TestProvider, landed: URL) {
    await new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }).finishAuth(
      landed.searchParams.get('code') ?? '',
    );
    const tokens = provider.tokens();
    assert.ok(tokens?.access_token && tokens.refresh_token);
    return tokens;
  }

  it('login and consent say who asks for what, for how long; the account page revokes; the admin page disables', {
    timeout: 240_000,
  }, async () => {
    const callback = await callbackServer();
    try {
      const provider = new TestProvider(callback.url);
      const authorizationUrl = await startAuthorization(provider);
      const page = await context.newPage();

      // Login: the deployment, the application asking (self-named: unverified), the resource.
      await page.goto(authorizationUrl.href);
      await page.waitForURL(/\/oauth\/login\?/);
      const banner = (await page.textContent('header')) ?? '';
      assert.match(banner, /Acme Files/);
      const login = (await page.textContent('main')) ?? '';
      assert.match(login, /Portcullis e2e client/);
      assert.match(login, /unverified/);
      assert.match(login, new RegExp(mcpUrl.replace(/[.]/g, '\\.')));
      assert.match(login, /Sign in to Acme Files to continue/);
      assert.match(await page.title(), /Sign in · Acme Files/);
      // Keyboard: the username has focus; Tab goes to the password, then to Sign in.
      assert.equal(await page.evaluate('document.activeElement?.id'), 'username');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement?.id'), 'password');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Sign in');
      await checkPage(page, 'login');
      await page.getByLabel('Username').fill('erin');
      await page.getByLabel('Password').fill(ERIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();

      // Consent: scopes in words, lifetimes in words, the redirect host to check.
      await page.waitForURL(/\/oauth\/consent\?/);
      const consent = (await page.textContent('main')) ?? '';
      assert.match(consent, /Portcullis e2e client/);
      assert.match(consent, /unverified/);
      assert.match(consent, /mcp:tools: List the tools of Acme Files and call them/);
      assert.match(consent, /mcp:resources: Read your documents/);
      assert.match(consent, /Each access lasts 15 minutes/);
      assert.match(consent, /up to 30 days after its last use, and for at most 90 days in all/);
      assert.match(
        consent,
        new RegExp(`Sends you back to\\s*127\\.0\\.0\\.1:${new URL(callback.url).port}`),
      );
      assert.match(consent, /Signed in to Acme Files as erin/);
      assert.equal(
        await page.getByRole('link', { name: 'your account page' }).getAttribute('href'),
        '/oauth/account',
      );
      await checkPage(page, 'consent');
      await Promise.all([
        page.waitForURL(`${callback.url}?**`),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
      const landed = callback.received.find((url) => url.pathname === '/callback');
      assert.ok(landed);
      const first = await finish(provider, landed);

      // The token works at the gateway: a tool call through it.
      const mcp = new Client({ name: 'first-hour', version: '1.0.0' });
      await mcp.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
      );
      const echoed = await mcp.callTool({ name: 'echo', arguments: { message: 'first hour' } });
      assert.match(JSON.stringify(echoed.content), /first hour/);
      await mcp.close();

      // Account: the application by name, unverified, its scopes, first and last use; revoke.
      await page.goto(`${origin}/oauth/account`);
      const account = (await page.textContent('main')) ?? '';
      assert.match(account, /Connected applications/);
      assert.match(account, /Portcullis e2e client/);
      assert.match(account, /unverified/);
      assert.match(account, /mcp:tools: List the tools/);
      assert.match(account, /\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
      await checkPage(page, 'account');
      assert.equal((await ping(first.access_token)).status, 200);
      await page.getByRole('button', { name: 'Revoke access of Portcullis e2e client' }).click();
      await page.waitForURL(/revoked=1/);
      assert.match((await page.textContent('main')) ?? '', /Access revoked/);
      assert.match((await page.textContent('main')) ?? '', /No application holds your consent/);
      const refused = await ping(first.access_token);
      assert.equal(refused.status, 401, 'revoked on the account page → refused at the gateway');
      assert.equal(((await refused.json()) as { code: string }).code, 'AuthTokenRevoked');

      // A second authorization for the same client (consent asked again), for the admin part.
      callback.received.length = 0;
      // The same registered client, without the revoked tokens.
      const provider2 = new TestProvider(callback.url, provider.clientInformation());
      const again = await startAuthorization(provider2);
      await page.goto(again.href);
      await page.waitForURL(/\/oauth\/consent\?/);
      await Promise.all([
        page.waitForURL(`${callback.url}?**`),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
      const second = await finish(
        provider2,
        callback.received.find((u) => u.pathname === '/callback') as URL,
      );
      assert.equal((await ping(second.access_token)).status, 200);

      // A user without the admin role is refused the admin page.
      const forbidden = await page.goto(`${origin}/oauth/admin`);
      assert.equal(forbidden?.status(), 403);
      assert.match((await page.textContent('header')) ?? '', /Acme Files/, 'error pages too');
      assert.match((await page.textContent('main')) ?? '', /admin role/);

      // Admin: sign in as the admin, from the account page's link.
      await context.clearCookies();
      await page.goto(`${origin}/oauth/admin`);
      await page.waitForURL(/\/oauth\/login$/);
      await page.getByLabel('Username').fill('root');
      await page.getByLabel('Password').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/oauth\/account$/);
      await page.getByRole('link', { name: 'Admin' }).click();
      await page.waitForURL(/\/oauth\/admin$/);
      const admin = (await page.textContent('main')) ?? '';
      const clientId = (provider.clientInformation() as OAuthClientInformationMixed).client_id;
      for (const expected of [/Clients/, /Users/, /Live grants/, /Signing keys/, /Audit records/]) {
        assert.match(admin, expected);
      }
      assert.match(admin, new RegExp(clientId));
      assert.match(admin, /Portcullis e2e client/);
      assert.match(admin, /erin/);
      assert.match(admin, /oauth\.token\.issued/);
      await checkPage(page, 'admin');

      // A form posted without its CSRF token is refused, and changes nothing.
      const forged = await context.request.post(`${origin}/oauth/admin`, {
        form: { action: 'client-disable', target: clientId },
        maxRedirects: 0,
      });
      assert.equal(forged.status(), 403);
      assert.equal((await ping(second.access_token)).status, 200);

      // Disable the client: its token is refused at once, its next token request fails.
      await page.getByRole('button', { name: 'Disable Portcullis e2e client' }).click();
      await page.waitForURL(/\/oauth\/admin\?done=/);
      assert.match((await page.textContent('main')) ?? '', /disabled; 1 grant\(s\) revoked/);
      assert.equal((await ping(second.access_token)).status, 401);
      const metadata = OAuthMetadataSchema.parse(
        await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json(),
      );
      await assert.rejects(
        refreshAuthorization(origin, {
          metadata,
          clientInformation: provider.clientInformation() as OAuthClientInformationMixed,
          refreshToken: second.refresh_token ?? '',
          resource: new URL(mcpUrl),
        }),
        (error: Error) =>
          error.constructor.name === 'InvalidClientError' && /unknown client/.test(error.message),
        'the disabled client’s next token request fails',
      );

      // The audit records, filtered, show the admin's action.
      await page.getByLabel('Show records containing').fill('admin.client');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(/audit=admin\.client/);
      const filtered = (await page.textContent('main')) ?? '';
      assert.match(filtered, /admin\.client\.disabled/);
      assert.match(filtered, new RegExp(`target ${clientId}`));
      await page.screenshot({
        path: join(ARTIFACTS, 'first-hour-admin-audit.png'),
        fullPage: true,
      });

      // Key rotation from the page.
      await page.getByRole('button', { name: 'Rotate the signing key' }).click();
      await page.waitForURL(/\/oauth\/admin\?done=/);
      assert.match((await page.textContent('main')) ?? '', /New signing key \S+ published/);
      await page.close();
    } finally {
      await callback.close();
    }
  });
});
