/**
 * End to end through the gateway with the co-located authorization server, as real processes:
 * `portcullis serve` (the quickstart, and a config with a client ID metadata document), the
 * official MCP SDK client (StreamableHTTPClientTransport + OAuthClientProvider): 401 →
 * protected resource metadata → authorization server metadata → dynamic registration (or a
 * metadata document) → login and consent in real Chromium → token → tools through the gateway
 * to server-everything over stdio → refresh (rotated) → revocation honoured by the gateway.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { refreshAuthorization, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type OAuthClientInformationMixed,
  OAuthMetadataSchema,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { stringify } from 'yaml';
import { DocumentServer } from '../authorization-server/document-server.ts';
import {
  callbackServer,
  launchChromium,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { CLI_ENTRY, HMAC_SECRET, REPO_ROOT, tempDir } from '../helpers/cli.ts';
import { EVERYTHING_ENTRY } from '../helpers/gateway.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

/** A free loopback port: the issuer and resource URIs must carry the real port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Served {
  readonly origin: string;
  readonly stdout: () => string;
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

async function serve(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Served> {
  const child = spawn(process.execPath, [CLI_ENTRY, 'serve', ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORTCULLIS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const origin = await new Promise<string>((resolve, reject) => {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      const match = /authorization server (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return {
    origin,
    stdout: () => out,
    child,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

describe('SDK client + Chromium through the gateway and its co-located authorization server', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  /** Signs in and consents in Chromium; returns the authorization code the callback received. */
  async function authorizeInBrowser(
    authorizationUrl: URL,
    callback: Awaited<ReturnType<typeof callbackServer>>,
    login: { username: string; password: string },
    artifact: string,
    expect: RegExp,
  ): Promise<URL> {
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    await page.goto(authorizationUrl.href);
    await page.getByLabel('Username').fill(login.username);
    await page.getByLabel('Password').fill(login.password);
    await page.screenshot({ path: join(ARTIFACTS, `${artifact}-login.png`) });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth\/consent\?/);
    assert.match((await page.textContent('main')) ?? '', expect);
    await page.screenshot({ path: join(ARTIFACTS, `${artifact}-consent.png`), fullPage: true });
    await Promise.all([
      page.waitForURL(`${callback.url}?**`),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    await page.close();
    const landed = callback.received.find((url) => url.pathname === '/callback');
    assert.ok(landed, 'the browser landed on the callback');
    return landed;
  }

  it('the quickstart: prints URL and one-time password; DCR, login, consent, tool call, refresh, revocation', {
    timeout: 180_000,
  }, async () => {
    const port = await freePort();
    const cwd = tempDir();
    const served = await serve(['--bind', `127.0.0.1:${port}`], {}, cwd);
    const callback = await callbackServer();
    const client = new Client({ name: 'quickstart-e2e', version: '1.0.0' });
    try {
      // The banner: the MCP URL and the admin's one-time password.
      for (let i = 0; i < 100 && !/Password:/.test(served.stdout()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const mcpUrl = /MCP server URL:\s+(\S+)/.exec(served.stdout())?.[1];
      const password = /Password:\s+(\S+) \(one-time/.exec(served.stdout())?.[1];
      assert.equal(mcpUrl, `${served.origin}/mcp`);
      assert.ok(password && password.length >= 16, served.stdout());

      // 401 → discovery → dynamic registration → authorization URL.
      const provider = new TestProvider(callback.url);
      await assert.rejects(
        client.connect(
          new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
        ),
        UnauthorizedError,
      );
      const authorizationUrl = provider.authorizationUrl;
      assert.ok(authorizationUrl);
      assert.equal(authorizationUrl.searchParams.get('resource'), mcpUrl);
      assert.match(authorizationUrl.searchParams.get('client_id') ?? '', /^dyn_/);

      const landed = await authorizeInBrowser(
        authorizationUrl,
        callback,
        { username: 'admin', password },
        'quickstart',
        /Portcullis e2e client/,
      );
      assert.equal(landed.searchParams.get('state'), provider.expectedState);
      assert.equal(landed.searchParams.get('iss'), served.origin);
      await new StreamableHTTPClientTransport(new URL(mcpUrl), {
        authProvider: provider,
      }).finishAuth(landed.searchParams.get('code') ?? '');
      const first = provider.tokens();
      assert.ok(first?.access_token && first.refresh_token);

      // Tools through the gateway to server-everything over stdio.
      await client.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
      );
      const { tools } = await client.listTools();
      assert.ok(tools.some((tool) => tool.name === 'echo'));
      const echoed = await client.callTool({
        name: 'echo',
        arguments: { message: 'hello gateway' },
      });
      assert.match(JSON.stringify(echoed.content), /hello gateway/);
      await client.close();

      // Refresh: a rotated pair that works at the gateway.
      const information = provider.clientInformation() as OAuthClientInformationMixed;
      const metadata = OAuthMetadataSchema.parse(
        await (await fetch(`${served.origin}/.well-known/oauth-authorization-server`)).json(),
      );
      const refreshed = await refreshAuthorization(served.origin, {
        metadata,
        clientInformation: information,
        refreshToken: first.refresh_token,
        resource: new URL(mcpUrl),
      });
      assert.notEqual(refreshed.access_token, first.access_token);
      assert.notEqual(refreshed.refresh_token, first.refresh_token);
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
      const withRefreshed = await ping(refreshed.access_token);
      assert.equal(withRefreshed.status, 200);
      await withRefreshed.body?.cancel();

      // Revocation (RFC 7009) is honoured by the gateway before the token expires.
      const revoked = await fetch(`${served.origin}/oauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: refreshed.access_token,
          client_id: information.client_id,
        }),
      });
      assert.equal(revoked.status, 200);
      const afterRevocation = await ping(refreshed.access_token);
      assert.equal(afterRevocation.status, 401);
      assert.match(afterRevocation.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      assert.equal(((await afterRevocation.json()) as { code: string }).code, 'AuthTokenRevoked');

      // Readiness names the store and the audit trail; the trail under ./data verifies and holds
      // the gateway's and the authorization server's records, never a token.
      const ready = await fetch(`${served.origin}/readyz`);
      assert.equal(ready.status, 200);
      const checks = ((await ready.json()) as { checks: Record<string, unknown> }).checks;
      assert.ok('store' in checks && 'audit' in checks, JSON.stringify(checks));
      await served.stop();
      const trail = readFileSync(join(cwd, 'data', 'audit.jsonl'), 'utf8');
      const events = new Set(
        trail
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line).event),
      );
      assert.ok(
        events.has('mcp.request.allowed') && events.has('auth.token.rejected'),
        [...events].join(),
      );
      assert.ok(
        [...events].some((event) => event.startsWith('oauth.')),
        [...events].join(),
      );
      for (const secret of [
        first.access_token,
        first.refresh_token,
        refreshed.access_token,
        password,
      ]) {
        assert.ok(!trail.includes(secret), 'no token or password in the audit trail');
      }
      const verified = spawnSync(
        process.execPath,
        [CLI_ENTRY, 'audit', 'verify', join(cwd, 'data', 'audit.jsonl')],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(verified.status, 0, verified.stderr);
    } finally {
      await client.close().catch(() => {});
      await callback.close();
      assert.equal(await served.stop(), 0, 'serve stops cleanly on SIGTERM');
    }
  });

  it('a client ID metadata document served on loopback (development switch), through the gateway', {
    timeout: 180_000,
  }, async () => {
    const port = await freePort();
    const cwd = tempDir();
    const docs = await new DocumentServer().start();
    const callback = await callbackServer();
    const config = join(cwd, 'gateway.yaml');
    writeFileSync(
      config,
      stringify({
        remote_mcp: {
          enabled: true,
          bind_address: `127.0.0.1:${port}`,
          allowed_scopes: ['mcp:tools'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
        },
        safety: { remote_mcp_enabled: true },
        upstreams: [
          {
            name: 'everything',
            path: '/mcp',
            command: process.execPath,
            args: [EVERYTHING_ENTRY, 'stdio'],
            tool_scopes: { echo: 'mcp:tools' },
          },
        ],
        authorization_server: { enabled: true, dynamic_registration: 'off' },
        store: { sqlite: join(cwd, 'store.db') },
        audit: { path: join(cwd, 'audit.jsonl') },
        development: { allow_loopback_urls: true },
      }),
    );
    const served = await serve(
      ['--config', config, '--enable-remote-mcp'],
      {
        TEST_HMAC_SECRET: HMAC_SECRET,
        PORTCULLIS_ADMIN_PASSWORD: 'correct horse battery staple',
      },
      cwd,
    );
    const client = new Client({ name: 'cimd-e2e', version: '1.0.0' });
    try {
      // Users come from `portcullis users add` in real deployments; here the admin bootstrap
      // of the quickstart is not run, so add one through the CLI.
      const added = spawn(
        process.execPath,
        [CLI_ENTRY, 'users', 'add', 'alice', '--config', config, '--password-stdin'],
        {
          cwd,
          env: { PATH: process.env.PATH ?? '', TEST_HMAC_SECRET: HMAC_SECRET },
          stdio: ['pipe', 'ignore', 'inherit'],
        },
      );
      const addedExit = once(added, 'exit');
      added.stdin?.end('alice-password-1234\n');
      assert.equal((await addedExit)[0], 0);

      const mcpUrl = `${served.origin}/mcp`;
      const provider = new TestProvider(callback.url, {
        client_id: docs.document('/client.json', {
          client_name: 'Portcullis CIMD client',
          redirect_uris: [callback.url],
          scope: 'mcp:tools',
        }),
      });
      await assert.rejects(
        client.connect(
          new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
        ),
        UnauthorizedError,
      );
      assert.ok(provider.authorizationUrl);
      const landed = await authorizeInBrowser(
        provider.authorizationUrl,
        callback,
        { username: 'alice', password: 'alice-password-1234' },
        'gateway-cimd',
        /Portcullis CIMD client/,
      );
      await new StreamableHTTPClientTransport(new URL(mcpUrl), {
        authProvider: provider,
      }).finishAuth(landed.searchParams.get('code') ?? '');
      await client.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
      );
      const echoed = await client.callTool({
        name: 'echo',
        arguments: { message: 'via metadata document' },
      });
      assert.match(JSON.stringify(echoed.content), /via metadata document/);
    } finally {
      await client.close().catch(() => {});
      await callback.close();
      await docs.close();
      await served.stop();
    }
  });
  it('portcullis login (browser sign-in) then portcullis connect bridges the SDK client over stdio', {
    timeout: 180_000,
  }, async () => {
    const port = await freePort();
    const cwd = tempDir();
    const served = await serve(
      ['--bind', `127.0.0.1:${port}`],
      { PORTCULLIS_ADMIN_PASSWORD: 'quickstart-admin-pw' },
      cwd,
    );
    const tokenStore = join(cwd, 'tokens');
    const mcpUrl = `${served.origin}/mcp`;
    const clientEnv = { PATH: process.env.PATH ?? '', PORTCULLIS_LOG_LEVEL: 'warn' };
    const client = new Client({ name: 'bridged', version: '1.0.0' });
    try {
      // 1. login: prints the authorization URL, waits on its loopback callback.
      const login = spawn(
        process.execPath,
        [CLI_ENTRY, 'login', mcpUrl, '--open', 'print', '--token-store', tokenStore],
        {
          cwd,
          env: clientEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const loginExited = once(login, 'exit');
      const authorizationUrl = await new Promise<URL>((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer) => {
          text += String(chunk);
          const match = /(http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+)/.exec(text);
          if (match?.[1]) resolve(new URL(match[1]));
        };
        login.stdout?.on('data', onData);
        login.stderr?.on('data', onData);
        login.once('exit', (code) => reject(new Error(`login exited ${code}: ${text}`)));
      });
      const redirect = authorizationUrl.searchParams.get('redirect_uri') ?? '';
      assert.match(redirect, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      await browser.context.clearCookies();
      const page = await browser.context.newPage();
      await page.goto(authorizationUrl.href);
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill('quickstart-admin-pw');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/oauth\/consent\?/);
      await Promise.all([
        page.waitForURL(`${redirect}?**`),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
      await page.close();
      assert.equal((await loginExited)[0], 0, 'login stored the tokens');

      // 2. connect: a stdio MCP server for the SDK client, using the stored tokens.
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [CLI_ENTRY, 'connect', mcpUrl, '--non-interactive', '--token-store', tokenStore],
          cwd,
          env: clientEnv,
          stderr: 'ignore',
        }),
      );
      const { tools } = await client.listTools();
      assert.ok(tools.some((tool) => tool.name === 'echo'));
      const echoed = await client.callTool({
        name: 'echo',
        arguments: { message: 'over the bridge' },
      });
      assert.match(JSON.stringify(echoed.content), /over the bridge/);
    } finally {
      await client.close().catch(() => {});
      await served.stop();
    }
  });
});
