/**
 * examples/redis.yaml as written, with the environment its header documents, against a real
 * `redis-server` whose only usable account is the deployment's ACL user, confined to the
 * example's key prefix: `config check` passes, `users add` writes there, `serve` (a real process)
 * starts and answers
 * /readyz 200 on the admin listener and on the public one, and real requests go through it — a
 * 401 challenge, discovery, a dynamic client registration landing in Redis under the prefix,
 * sign-in and consent, the code redeemed, a tool call reaching the upstream, and a forged token
 * refused.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { CLI_ENTRY, HMAC_SECRET, REPO_ROOT, runCli, tempDir } from '../helpers/cli.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { freePort, type RedisProcess, redisMissing, startRedis } from './redis-harness.ts';

const EXAMPLE = join(REPO_ROOT, 'examples', 'redis.yaml');
const USERNAME = 'portcullis';
const PASSWORD = 'example-acl-password-0123456789';
/** The example's public origin: requests carry its Host, as behind the load balancer. */
const PUBLIC_HOST = 'mcp.example.com';
const PUBLIC_ORIGIN = `https://${PUBLIC_HOST}`;
const ALICE_PASSWORD = 'alice-password-0123456789';
const CALLBACK = 'http://127.0.0.1:33418/callback';

/**
 * A cookie-keeping client for the sign-in pages as the load balancer would pass them on: every
 * request carries the public Host, and the public origin in a Location is this replica.
 */
class PageClient {
  readonly #origin: string;
  readonly #cookies = new Map<string, string>();

  constructor(origin: string) {
    this.#origin = origin;
  }

  async send(target: string, form?: Record<string, string>): Promise<Response> {
    const url = new URL(target, PUBLIC_ORIGIN);
    const headers: Record<string, string> = { host: PUBLIC_HOST };
    if (this.#cookies.size > 0) {
      headers.cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    }
    if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(`${this.#origin}${url.pathname}${url.search}`, {
      method: form === undefined ? 'GET' : 'POST',
      redirect: 'manual',
      headers,
      ...(form === undefined ? {} : { body: new URLSearchParams(form) }),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      if (index > 0) this.#cookies.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
    }
    return response;
  }

  /** Follows the sign-in and consent pages from an authorization request to the callback. */
  async authorize(query: URLSearchParams, username: string, password: string): Promise<URL> {
    let response = await this.send(`/oauth/authorize?${query}`);
    for (let hop = 0; hop < 8; hop++) {
      assert.equal(response.status, 303, await response.clone().text());
      const location = new URL(response.headers.get('location') ?? '', PUBLIC_ORIGIN);
      if (location.origin !== PUBLIC_ORIGIN) return location;
      const page = await this.send(location.pathname + location.search);
      if (page.status === 303) {
        response = page;
        continue;
      }
      const html = await page.text();
      const fields: Record<string, string> = {};
      for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
        fields[match[1] ?? ''] = (match[2] ?? '').replace(/&amp;/g, '&');
      }
      response =
        location.pathname === '/oauth/login'
          ? await this.send('/oauth/login', { ...fields, username, password })
          : await this.send('/oauth/consent', { ...fields, decision: 'allow' });
    }
    throw new Error('too many redirects');
  }
}

describe('examples/redis.yaml against a real Redis', { skip: redisMissing() }, () => {
  let redis: RedisProcess;
  let upstream: RecordingUpstream;
  let env: NodeJS.ProcessEnv;
  let serve: ChildProcess | undefined;
  const cwd = tempDir();

  before(async () => {
    // The default account is off: only the deployment's user, with the rule docs/deployment.md
    // gives (its prefix and channels, no dangerous commands).
    redis = await startRedis({
      extraArgs: [
        '--user',
        'default',
        'off',
        '--user',
        USERNAME,
        'on',
        `>${PASSWORD}`,
        '~mcp-example:*',
        '&mcp-example:*',
        '+@all',
        '-@dangerous',
        '+info',
      ],
    });
    upstream = await startRecordingUpstream({ jsonResponse: true });
    env = {
      PATH: process.env.PATH ?? '',
      REDIS_URL: `${redis.url}/0`,
      REDIS_USERNAME: USERNAME,
      REDIS_PASSWORD: PASSWORD,
      PORTCULLIS_TOKEN_HMAC_SECRET: HMAC_SECRET,
      TOOLS_MCP_URL: upstream.url,
      PORTCULLIS_ADMIN_BIND: `127.0.0.1:${await freePort()}`,
      PORTCULLIS_LOG_LEVEL: 'warn',
    };
  });
  after(async () => {
    if (serve !== undefined && serve.exitCode === null && serve.signalCode === null) {
      const exited = once(serve, 'exit');
      serve.kill('SIGTERM');
      await exited;
    }
    await upstream?.close();
    await redis?.remove();
  });

  it('config check passes, serve starts, /readyz is 200, requests go through', async () => {
    const checked = await runCli(['config', 'check', '--config', EXAMPLE], env);
    assert.equal(checked.code, 0, checked.stderr);
    assert.ok(!checked.stdout.includes(PASSWORD), 'the password is not shown');

    // An operator command against the same file and environment (the store is Redis).
    const added = spawn(
      process.execPath,
      [CLI_ENTRY, 'users', 'add', 'alice', '--config', EXAMPLE, '--password-stdin'],
      { cwd, env, stdio: ['pipe', 'ignore', 'inherit'] },
    );
    const addedExit = once(added, 'exit');
    added.stdin?.end(`${ALICE_PASSWORD}\n`);
    assert.equal((await addedExit)[0], 0);

    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        CLI_ENTRY,
        'serve',
        '--config',
        EXAMPLE,
        '--enable-remote-mcp',
        '--bind',
        `127.0.0.1:${port}`,
      ],
      { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    serve = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const origin = `http://127.0.0.1:${port}`;
    const admin = `http://${env.PORTCULLIS_ADMIN_BIND}`;
    // Ready when /readyz says so (the store connected, the upstream reachable, keys loaded).
    for (;;) {
      assert.equal(child.exitCode, null, `serve exited: ${stderr}`);
      const ready = await fetch(`${admin}/readyz`).catch(() => undefined);
      if (ready?.status === 200) break;
      await ready?.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const readiness = (await (await fetch(`${admin}/readyz`)).json()) as {
      status: string;
      checks: Record<string, string>;
    };
    assert.equal(readiness.status, 'ready');
    const storeCheck = Object.entries(readiness.checks).find(([name]) => /store/i.test(name));
    assert.ok(storeCheck && !storeCheck[1].startsWith('FAILING'), JSON.stringify(readiness));
    assert.equal(readiness.checks['upstream:tools'], 'reachable');
    const publicReady = await fetch(`${origin}/readyz`, { headers: { host: PUBLIC_HOST } });
    assert.equal(publicReady.status, 200, await publicReady.text());

    // A client without a token is sent to the metadata (RFC 9728 §5.1).
    const headers = {
      host: PUBLIC_HOST,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      },
    });
    const challenged = await fetch(`${origin}/mcp`, { method: 'POST', headers, body: initialize });
    assert.equal(challenged.status, 401);
    assert.match(
      challenged.headers.get('www-authenticate') ?? '',
      /resource_metadata="https:\/\/mcp\.example\.com\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    const metadata = (await (
      await fetch(`${origin}/.well-known/oauth-authorization-server`, {
        headers: { host: PUBLIC_HOST },
      })
    ).json()) as { issuer: string; registration_endpoint: string };
    assert.equal(metadata.issuer, 'https://mcp.example.com');

    // Dynamic registration (RFC 7591) writes the client to Redis, under the example's prefix.
    const registered = await fetch(`${origin}${new URL(metadata.registration_endpoint).pathname}`, {
      method: 'POST',
      headers: { host: PUBLIC_HOST, 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'example check',
        redirect_uris: ['http://127.0.0.1:33418/callback'],
        token_endpoint_auth_method: 'none',
      }),
    });
    assert.equal(registered.status, 201, await registered.clone().text());
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    const probe = new Redis({
      host: '127.0.0.1',
      port: redis.port,
      username: USERNAME,
      password: PASSWORD,
    });
    try {
      assert.equal(await probe.exists(`mcp-example:{clients}:c:${clientId}`), 1);
      assert.equal(await probe.exists('mcp-example:{users}:u:alice'), 1);
    } finally {
      probe.disconnect();
    }

    // Alice signs in and consents (the pages, served from Redis), the client redeems the code,
    // and a tool call goes through to the upstream.
    const verifier = randomBytes(32).toString('base64url');
    const callback = await new PageClient(origin).authorize(
      new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: CALLBACK,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        resource: `${PUBLIC_ORIGIN}/mcp`,
        scope: 'mcp:tools',
        state: 'state-1',
      }),
      'alice',
      ALICE_PASSWORD,
    );
    assert.equal(`${callback.origin}${callback.pathname}`, CALLBACK);
    const tokens = await fetch(`${origin}/oauth/token`, {
      method: 'POST',
      headers: { host: PUBLIC_HOST, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') ?? '',
        redirect_uri: CALLBACK,
        code_verifier: verifier,
        client_id: clientId,
        resource: `${PUBLIC_ORIGIN}/mcp`,
      }),
    });
    assert.equal(tokens.status, 200, await tokens.clone().text());
    const { access_token: accessToken } = (await tokens.json()) as { access_token: string };
    const authorized = { ...headers, authorization: `Bearer ${accessToken}` };
    const opened = await fetch(`${origin}/mcp`, {
      method: 'POST',
      headers: authorized,
      body: initialize,
    });
    assert.equal(opened.status, 200, await opened.clone().text());
    const session = opened.headers.get('mcp-session-id') ?? '';
    await opened.body?.cancel();
    const called = await fetch(`${origin}/mcp`, {
      method: 'POST',
      headers: { ...authorized, 'mcp-session-id': session },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'read_file', arguments: { path: '/etc/motd' } },
      }),
    });
    assert.equal(called.status, 200);
    assert.match(await called.text(), /contents of \/etc\/motd/);
    assert.deepEqual(upstream.toolCalls(), ['read_file']);
    const seen = upstream.requests.length;

    // A token this deployment never issued is refused; the upstream saw nothing.
    const forged = await fetch(`${origin}/mcp`, {
      method: 'POST',
      headers: { ...headers, authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln' },
      body: initialize,
    });
    assert.equal(forged.status, 401);
    assert.equal(upstream.requests.length, seen);
  });
});
