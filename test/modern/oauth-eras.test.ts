import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError as UnauthorizedV2,
} from '@modelcontextprotocol/client';
import { UnauthorizedError as UnauthorizedV1 } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { stringify } from 'yaml';
import {
  callbackServer,
  launchChromium,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { CLI_ENTRY, HMAC_SECRET, REPO_ROOT, tempDir } from '../helpers/cli.ts';
import { EVERYTHING_ENTRY } from '../helpers/gateway.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

/**
 * Real OAuth through the gateway and its co-located authorization server, for clients of both
 * eras against both kinds of upstream: 401 → protected resource metadata → authorization server
 * metadata → dynamic registration → login and consent in Chromium → token → tool call (an
 * elicitation too) → refresh when the access token is refused.
 */

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type ClientKind = 'v2-legacy' | 'v2-auto' | 'v2-pinned' | 'v1';

function modeOf(kind: Exclude<ClientKind, 'v1'>) {
  return kind === 'v2-legacy'
    ? 'legacy'
    : kind === 'v2-auto'
      ? 'auto'
      : { pin: '2026-07-28' as const };
}

/** server-everything's echo takes `message`, the modern test upstream's `text`. */
function echoArgs(path: string, text: string): Record<string, unknown> {
  return path === '/modern' ? { text } : { message: text };
}

/** A fresh client of the same kind with the provider's (stored) credentials calls echo. */
async function callAgain(
  kind: ClientKind,
  mcpUrl: URL,
  provider: TestProvider,
  args: Record<string, unknown>,
): Promise<void> {
  const client =
    kind === 'v1'
      ? new ClientV1({ name: 'v1', version: '1.0.0' })
      : new ClientV2(
          { name: kind, version: '1.0.0' },
          { versionNegotiation: { mode: modeOf(kind) } },
        );
  await client.connect(
    kind === 'v1'
      ? new TransportV1(mcpUrl, { authProvider: provider })
      : new TransportV2(mcpUrl, { authProvider: provider }),
  );
  try {
    const result = await client.callTool({ name: 'echo', arguments: args });
    assert.match(JSON.stringify(result.content), new RegExp(String(Object.values(args)[0])));
  } finally {
    await client.close();
  }
}

describe('real OAuth and real clients of both eras through the gateway', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let upstream: ModernUpstream;
  let child: ChildProcess;
  let origin: string;
  let callback: Awaited<ReturnType<typeof callbackServer>>;
  const password = 'correct horse battery staple';

  before(async () => {
    browser = await launchChromium();
    upstream = await startModernUpstream();
    callback = await callbackServer();
    const port = await freePort();
    const cwd = tempDir();
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
            tool_scopes: { '*': 'mcp:tools' },
          },
          { name: 'modern', path: '/modern', url: upstream.url, tool_scopes: { '*': 'mcp:tools' } },
        ],
        authorization_server: { enabled: true, dynamic_registration: 'open' },
        store: { sqlite: join(cwd, 'store.db') },
        audit: { path: join(cwd, 'audit.jsonl') },
        development: { allow_loopback_urls: true },
      }),
    );
    const env = { PATH: process.env.PATH ?? '', TEST_HMAC_SECRET: HMAC_SECRET };
    const added = spawn(
      process.execPath,
      [CLI_ENTRY, 'users', 'add', 'alice', '--config', config, '--password-stdin'],
      { cwd, env, stdio: ['pipe', 'ignore', 'inherit'] },
    );
    added.stdin?.end(`${password}\n`);
    assert.equal((await once(added, 'exit'))[0], 0);
    child = spawn(
      process.execPath,
      [CLI_ENTRY, 'serve', '--config', config, '--enable-remote-mcp'],
      {
        cwd,
        env: { ...env, PORTCULLIS_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    origin = await new Promise<string>((resolve, reject) => {
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        err += chunk;
        const match = /authorization server (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
        if (match?.[1]) resolve(match[1]);
      });
      child.stdout?.resume();
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
  });

  after(async () => {
    await browser?.close();
    await callback?.close();
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await upstream?.close();
  });

  /** Login and consent in Chromium; returns the callback's parameters (code, state, iss). */
  async function authorize(url: URL): Promise<URLSearchParams> {
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    await page.goto(url.href);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth\/consent\?/);
    await Promise.all([
      page.waitForURL(`${callback.url}?**`),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    await page.close();
    const landed = callback.received.filter((received) => received.pathname === '/callback').at(-1);
    assert.ok(landed);
    assert.equal(landed.searchParams.get('iss'), origin);
    return landed.searchParams;
  }

  async function connectWithOAuth(kind: ClientKind, mcpUrl: URL, provider: TestProvider) {
    if (kind === 'v1') {
      const make = () => {
        const client = new ClientV1(
          { name: 'v1', version: '1.0.0' },
          { capabilities: { elicitation: {} } },
        );
        client.setRequestHandler(ElicitRequestSchema, async () => ({
          action: 'accept',
          content: { ok: true, name: 'Ada', check: true },
        }));
        return client;
      };
      const transport = () => new TransportV1(mcpUrl, { authProvider: provider });
      await assert.rejects(make().connect(transport()), UnauthorizedV1);
      assert.ok(provider.authorizationUrl);
      const landed = await authorize(provider.authorizationUrl);
      assert.equal(landed.get('state'), provider.expectedState);
      await transport().finishAuth(landed.get('code') ?? '');
      const client = make();
      await client.connect(transport());
      return {
        call: (name: string, args: Record<string, unknown>) =>
          client.callTool({ name, arguments: args }),
        close: () => client.close(),
      };
    }
    const mode =
      kind === 'v2-legacy'
        ? 'legacy'
        : kind === 'v2-auto'
          ? 'auto'
          : { pin: '2026-07-28' as const };
    const make = () => {
      const client = new ClientV2(
        { name: kind, version: '1.0.0' },
        { capabilities: { elicitation: {} }, versionNegotiation: { mode } },
      );
      client.setRequestHandler('elicitation/create', async () => ({
        action: 'accept',
        content: { ok: true, name: 'Ada', check: true },
      }));
      return client;
    };
    const transport = () => new TransportV2(mcpUrl, { authProvider: provider });
    await assert.rejects(make().connect(transport()), UnauthorizedV2);
    assert.ok(provider.authorizationUrl);
    const landed = await authorize(provider.authorizationUrl);
    assert.equal(landed.get('state'), provider.expectedState);
    // The callback's parameters as they came: the SDK checks iss (RFC 9207) before the code.
    await transport().finishAuth(landed);
    const client = make();
    await client.connect(transport());
    return {
      call: (name: string, args: Record<string, unknown>) =>
        client.callTool({ name, arguments: args }),
      close: () => client.close(),
    };
  }

  /** Login and consent in Chromium for a client whose own callback server takes the code. */
  async function authorizeFor(url: URL, callbackPrefix: string): Promise<void> {
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    await page.goto(url.href);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth\/consent\?/);
    await Promise.all([
      page.waitForURL(`${callbackPrefix}**`),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    await page.close();
  }

  for (const path of ['/mcp', '/modern']) {
    it(`mcp-remote --protocol auto against ${path === '/mcp' ? 'server-everything (2025, stdio)' : 'a 2026-07-28-only upstream'}`, {
      timeout: 120_000,
    }, async () => {
      const callbackPort = await freePort();
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [
          join(REPO_ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js'),
          `${origin}${path}`,
          String(callbackPort),
          '--protocol',
          'auto',
          '--host',
          '127.0.0.1',
          // The default /oauth/callback is refused: a loopback callback under /oauth would
          // receive a loopback issuer's sign-in cookies (docs/authorization-server.md).
          '--callback-path',
          '/callback',
        ],
        // No PATH: mcp-remote must not find a browser to open; the test drives Chromium.
        env: { MCP_REMOTE_CONFIG_DIR: tempDir(), PATH: '' },
        stderr: 'pipe',
      });
      let log = '';
      const authorizing = new Promise<URL>((resolve) => {
        transport.stderr?.on('data', (chunk: Buffer) => {
          log += chunk.toString('utf8');
          const match = /Please authorize this client by visiting:\s+(\S+)/.exec(log);
          if (match?.[1]) resolve(new URL(match[1]));
        });
      });
      const client = new ClientV1({ name: 'via-mcp-remote', version: '1.0.0' });
      const connecting = client.connect(transport);
      const url = await authorizing;
      await authorizeFor(url, `http://127.0.0.1:${callbackPort}/`);
      await connecting;
      try {
        const result = await client.callTool({ name: 'echo', arguments: echoArgs(path, 'remote') });
        assert.match(JSON.stringify(result.content), /remote/, log);
      } finally {
        await client.close();
      }
    });
  }

  for (const kind of ['v2-pinned', 'v2-auto', 'v2-legacy', 'v1'] as const) {
    for (const path of ['/mcp', '/modern']) {
      it(`${kind} against ${path === '/mcp' ? 'server-everything (2025, stdio)' : 'a 2026-07-28-only upstream'}`, {
        timeout: 120_000,
      }, async () => {
        const mcpUrl = new URL(`${origin}${path}`);
        const provider = new TestProvider(callback.url);
        const session = await connectWithOAuth(kind, mcpUrl, provider);
        try {
          const echoed = await session.call('echo', echoArgs(path, 'hello'));
          assert.match(JSON.stringify(echoed.content), /hello/);
          const elicited =
            path === '/modern'
              ? await session.call('confirm', { what: 'x' })
              : await session.call('trigger-elicitation-request', {});
          assert.match(
            JSON.stringify(elicited.content),
            path === '/modern' ? /confirmed x: true/ : /Ada/,
          );
        } finally {
          await session.close();
        }
        // Refresh: the access token is refused, the client refreshes and carries on.
        const tokens = provider.tokens();
        assert.ok(tokens?.refresh_token);
        provider.saveTokens({ ...tokens, access_token: 'refused-on-purpose' });
        await callAgain(kind, mcpUrl, provider, echoArgs(path, 'again'));
        assert.notEqual(provider.tokens()?.access_token, 'refused-on-purpose');
      });
    }
  }
});
