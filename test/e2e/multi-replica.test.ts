/**
 * Three `portcullis serve` replicas sharing one Redis, behind nginx round robin (sticky only for
 * a legacy MCP session, on Mcp-Session-Id), as real processes:
 * - the official MCP SDK client's whole flow through nginx (discovery, dynamic registration,
 *   login and consent in real Chromium, token, tool calls, refresh), every step free to land on
 *   another replica;
 * - MCP 2026-07-28 requests, stateless: a client pinned to that revision is served by every
 *   replica in turn with the same token, a stray Mcp-Session-Id on them never answered 404;
 * - two replicas redeeming one refresh token at the same moment: exactly one rotation;
 * - `kill -9` of a replica: the client carries on through the others;
 * - Redis stopped: 503 and /readyz 503 on every replica; Redis started: recovery without a
 *   restart, every client, refresh family and key issued before still there (AOF);
 * - a revocation on one replica refused on the others within one second.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { refreshAuthorization, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type OAuthClientInformationMixed,
  OAuthMetadataSchema,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { stringify } from 'yaml';
import { RedisStore } from '../../src/store/index.ts';
import {
  callbackServer,
  launchChromium,
  SKIP_WITHOUT_CHROMIUM,
  TestProvider,
} from '../helpers/browser-oauth.ts';
import { CLI_ENTRY, HMAC_SECRET, tempDir } from '../helpers/cli.ts';
import { EVERYTHING_ENTRY } from '../helpers/gateway.ts';
import { type RunningNginx, SKIP_WITHOUT_NGINX, startNginx } from '../helpers/nginx.ts';
import {
  freePort,
  type RedisProcess,
  redisMissing,
  startRedis,
  testSettings,
} from '../store/redis-harness.ts';

const SKIP = SKIP_WITHOUT_CHROMIUM || SKIP_WITHOUT_NGINX || redisMissing() || false;
const PASSWORD = 'replica-user-password-1';
/** Requests per client address (and subject, and session) per minute, shared by the replicas. */
const RATE_LIMIT = 60;

interface Replica {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

async function startReplica(config: string, port: number, cwd: string): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [CLI_ENTRY, 'serve', '--config', config, '--enable-remote-mcp', '--bind', `127.0.0.1:${port}`],
    {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        PORTCULLIS_LOG_LEVEL: 'warn',
        TEST_HMAC_SECRET: HMAC_SECRET,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      if (/authorization server http/.test(err)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`replica on ${port} exited ${code}: ${err}`)));
  });
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      // After a failed run, open sessions may hold a replica: do not let teardown hang on it.
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request straight to a replica, with the Host clients use (the load balancer's). */
function direct(
  port: number,
  host: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { host, ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
});

const mcpHeaders = (token: string) => ({
  authorization: `Bearer ${token}`,
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
});

/** POST to the MCP endpoint through nginx, as the client at `address` (X-Forwarded-For). */
function viaNginx(
  mcpUrl: string,
  address: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'x-forwarded-for': address,
      ...headers,
    },
    body,
  });
}

/** Revokes on the first replica; measures until the second refuses the token. */
async function revocationSeenElsewhere(
  t: { diagnostic(message: string): void },
  live: readonly Replica[],
  host: string,
  token: string,
  clientId: string,
): Promise<void> {
  const [one, other] = live;
  assert.ok(one && other);
  const revoked = await direct(
    one.port,
    host,
    'POST',
    '/oauth/revoke',
    { 'content-type': 'application/x-www-form-urlencoded' },
    new URLSearchParams({ token, client_id: clientId }).toString(),
  );
  assert.equal(revoked.status, 200, revoked.body);
  const revokedAt = performance.now();
  let refusedAfter = Number.POSITIVE_INFINITY;
  while (performance.now() - revokedAt <= 1000) {
    const answer = await direct(other.port, host, 'POST', '/mcp', mcpHeaders(token), INITIALIZE);
    if (answer.status === 401) {
      refusedAfter = performance.now() - revokedAt;
      assert.match(answer.body, /AuthTokenRevoked/);
      break;
    }
  }
  t.diagnostic(`revocation refused on another replica after ${refusedAfter.toFixed(1)} ms`);
  assert.ok(refusedAfter <= 1000, `refused within 1 s (took ${refusedAfter} ms)`);
}

/** 401 → discovery → registration → login and consent in Chromium → code → tokens. */
async function signIn(
  browser: Awaited<ReturnType<typeof launchChromium>>,
  mcpUrl: string,
  provider: TestProvider,
  callback: Awaited<ReturnType<typeof callbackServer>>,
): Promise<void> {
  const first = new Client({ name: 'multi-replica-e2e', version: '1.0.0' });
  await assert.rejects(
    first.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })),
    UnauthorizedError,
  );
  const authorizationUrl = provider.authorizationUrl;
  assert.ok(authorizationUrl);
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  await page.goto(authorizationUrl.href);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/oauth\/consent\?/);
  await Promise.all([
    page.waitForURL(`${callback.url}?**`),
    page.getByRole('button', { name: 'Allow' }).click(),
  ]);
  await page.close();
  const landed = callback.received.find((url) => url.pathname === '/callback');
  assert.ok(landed);
  await new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }).finishAuth(
    landed.searchParams.get('code') ?? '',
  );
}

/**
 * MCP 2026-07-28 requests carry no session (streamable-http, stateless revision), so any replica
 * serves them: a client pinned to that revision, with the token of the flow, is served by all
 * three replicas in turn, each request by the first replica nginx picked. The requests also
 * carry a well-formed Mcp-Session-Id that no replica holds: on a 2026-07-28 request it is
 * ignored, never the 404 that sends a 2025 session request on to the next replica.
 */
async function statelessAcrossReplicas(
  t: { diagnostic(message: string): void },
  nginx: RunningNginx,
  mcpUrl: string,
  provider: TestProvider,
): Promise<void> {
  const stray = 'S'.repeat(32);
  const logBefore = nginx.accessLog().length;
  const client = new ClientV2(
    { name: 'multi-replica-modern', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(
    new TransportV2(new URL(mcpUrl), {
      authProvider: provider,
      requestInit: { headers: { 'mcp-session-id': stray } },
    }),
  );
  try {
    for (let call = 0; call < 6; call++) {
      const echoed = await client.callTool({
        name: 'echo',
        arguments: { message: `modern ${call}` },
      });
      assert.match(JSON.stringify(echoed.content), new RegExp(`modern ${call}`));
    }
  } finally {
    await client.close();
  }
  const lines = nginx.accessLog().slice(logBefore);
  const servedBy = lines.map((line) => /upstream=(.*?) session=/.exec(line)?.[1] ?? '');
  t.diagnostic(
    `2026-07-28: ${lines.length} requests through nginx, served by ${new Set(servedBy).size} replicas`,
  );
  assert.ok(lines.length >= 6, lines.join('\n'));
  for (const line of lines) {
    assert.match(line, /^POST \/mcp 200 upstream=\S+ session=S{32}$/, 'one replica, stray id sent');
  }
  assert.equal(new Set(servedBy).size, 3, `every replica served:\n${lines.join('\n')}`);
}

async function rateLimitAcrossReplicas(
  t: { diagnostic(message: string): void },
  nginx: RunningNginx,
  mcpUrl: string,
  token: string,
): Promise<void> {
  // a) One session, K requests: only the replica holding it counts them.
  const sessionClient = '198.51.100.8';
  const opened = await viaNginx(mcpUrl, sessionClient, INITIALIZE, {
    authorization: `Bearer ${token}`,
  });
  assert.equal(opened.status, 200);
  await opened.body?.cancel();
  const session = opened.headers.get('mcp-session-id') ?? '';
  assert.ok(session);
  const logBefore = nginx.accessLog().length;
  const K = 8;
  for (let index = 0; index < K; index++) {
    const listed = await viaNginx(
      mcpUrl,
      sessionClient,
      JSON.stringify({ jsonrpc: '2.0', id: 10 + index, method: 'tools/list' }),
      { authorization: `Bearer ${token}`, 'mcp-session-id': session },
    );
    assert.equal(listed.status, 200);
    await listed.body?.cancel();
  }
  const hops = nginx
    .accessLog()
    .slice(logBefore)
    .filter((line) => line.includes(session))
    .reduce(
      (sum, line) => sum + (/upstream=(.*?) session=/.exec(line)?.[1]?.split(', ').length ?? 1) - 1,
      0,
    );
  const flood = async (address: string, count: number) => {
    const answers = await Promise.all(
      Array.from({ length: count }, () => viaNginx(mcpUrl, address, INITIALIZE)),
    );
    for (const answer of answers) await answer.body?.cancel();
    return {
      admitted: answers.filter((answer) => answer.status === 401).length,
      limited: answers.filter((answer) => answer.status === 429).length,
    };
  };
  const rest = await flood(sessionClient, RATE_LIMIT);
  t.diagnostic(
    `session requests: ${K}, passed on after a 404 ${hops} times; the address then had ${rest.admitted} of ${RATE_LIMIT} left`,
  );
  assert.equal(rest.admitted, RATE_LIMIT - 1 - K, 'the 404 hops spent no budget');

  // b) One address, three times the limit in parallel, spread over the replicas.
  const burst = await flood('198.51.100.9', 3 * RATE_LIMIT);
  t.diagnostic(
    `rate limit across replicas: ${burst.admitted} admitted of ${3 * RATE_LIMIT} sent (limit ${RATE_LIMIT}), ${burst.limited} refused with 429`,
  );
  assert.equal(burst.admitted, RATE_LIMIT);
  assert.equal(burst.limited, 2 * RATE_LIMIT);
}

describe('three replicas on one Redis behind nginx round robin', { skip: SKIP }, () => {
  let redis: RedisProcess;
  let nginx: RunningNginx;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const replicas: Replica[] = [];
  let config = '';
  let cwd = '';

  before(async () => {
    redis = await startRedis({ aof: true });
    cwd = tempDir();
    const ports = [await freePort(), await freePort(), await freePort()];
    const lbPort = await freePort();
    // The same file for every replica but for its own audit trail (one hash chain per writer).
    const configFor = (replica: string) => {
      const path = join(cwd, `gateway-${replica}.yaml`);
      writeFileSync(
        path,
        stringify({
          remote_mcp: {
            enabled: true,
            public_url: `http://127.0.0.1:${lbPort}`,
            allowed_scopes: ['mcp:tools'],
            token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
            trusted_proxies: ['127.0.0.1/32'],
            rate_limit_max_requests: RATE_LIMIT,
            rate_limit_window_seconds: 60,
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
          ],
          authorization_server: { enabled: true },
          store: {
            redis: `${redis.url}/0`,
            redis_options: { key_prefix: 'e2e:', command_timeout_ms: 500 },
          },
          audit: { path: join(cwd, `audit-${replica}.jsonl`) },
        }),
      );
      return path;
    };
    config = configFor('cli');
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
    added.stdin?.end(`${PASSWORD}\n`);
    assert.equal((await addedExit)[0], 0);
    // All at once on an empty store, as an orchestrator would start them: each may create a
    // signing key; a token signed with a key another replica has not loaded yet makes it read
    // the keys again.
    replicas.push(
      ...(await Promise.all(
        ports.map((port, index) => startReplica(configFor(String(index)), port, cwd)),
      )),
    );
    nginx = await startNginx({ listen: lbPort, replicas: ports });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await nginx?.stop();
    for (const replica of replicas) await replica.stop();
    await redis?.remove();
  });

  it('whole flow through nginx; concurrent refresh; kill -9; Redis outage and recovery; revocation', {
    timeout: 240_000,
  }, async (t) => {
    const origin = nginx.origin;
    const host = new URL(origin).host;
    const mcpUrl = `${origin}/mcp`;
    const callback = await callbackServer();
    const provider = new TestProvider(callback.url);
    const connect = async () => {
      const client = new Client({ name: 'multi-replica-e2e', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
      );
      return client;
    };
    try {
      const keyStore = new RedisStore(testSettings(`${redis.url}/0`, { keyPrefix: 'e2e:' }));
      const startKeys = (await keyStore.listSigningKeys()).length;
      await keyStore.close();
      t.diagnostic(`signing keys after three replicas started at once: ${startKeys}`);

      // 1. The whole flow, every request through nginx.
      await signIn(browser, mcpUrl, provider, callback);
      const tokens = provider.tokens();
      assert.ok(tokens?.access_token && tokens.refresh_token);
      let client = await connect();
      for (let call = 0; call < 3; call++) {
        const echoed = await client.callTool({
          name: 'echo',
          arguments: { message: `call ${call}` },
        });
        assert.match(JSON.stringify(echoed.content), new RegExp(`call ${call}`));
      }
      const information = provider.clientInformation() as OAuthClientInformationMixed;
      const metadata = OAuthMetadataSchema.parse(
        await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json(),
      );
      const refreshed = await refreshAuthorization(origin, {
        metadata,
        clientInformation: information,
        refreshToken: tokens.refresh_token,
        resource: new URL(mcpUrl),
      });
      provider.saveTokens(refreshed);
      const served = nginx.accessLog();
      // The last address of a line is the replica that answered (earlier ones said 404).
      const servedBy = (line: string) =>
        /upstream=(.*?) session=/.exec(line)?.[1]?.split(', ').at(-1);
      const spread = new Set(served.map(servedBy).filter(Boolean));
      const retried = served.filter((line) => /upstream=\S+, /.test(line)).length;
      t.diagnostic(
        `flow: ${served.length} requests through nginx, served by ${spread.size} replicas; ${retried} session requests passed on after a 404`,
      );
      assert.equal(spread.size, 3, `every replica took part:\n${served.join('\n')}`);
      await statelessAcrossReplicas(t, nginx, mcpUrl, provider);

      // 2. Two replicas redeem one refresh token at the same moment: one rotation.
      const form = (refreshToken: string) =>
        new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: information.client_id,
          resource: mcpUrl,
        }).toString();
      const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
      const [a, b] = await Promise.all(
        [replicas[0], replicas[1]].map((replica) =>
          direct(
            replica?.port ?? 0,
            host,
            'POST',
            '/oauth/token',
            formHeaders,
            form(refreshed.refresh_token ?? ''),
          ),
        ),
      );
      assert.equal(a?.status, 200, a?.body);
      assert.equal(b?.status, 200, b?.body);
      const pairA = JSON.parse(a?.body ?? '{}') as { refresh_token: string; access_token: string };
      const pairB = JSON.parse(b?.body ?? '{}') as { refresh_token: string; access_token: string };
      assert.equal(
        pairA.refresh_token,
        pairB.refresh_token,
        'one rotation: the loser gets the same successor',
      );
      provider.saveTokens({ ...refreshed, ...pairA });

      // 3. kill -9 of a replica mid-flow: the client carries on through the others.
      const victim = replicas[2];
      assert.ok(victim?.child.pid);
      process.kill(victim.child.pid, 'SIGKILL');
      await once(victim.child, 'exit');
      await client.close().catch(() => {});
      client = await connect();
      for (let call = 0; call < 4; call++) {
        const echoed = await client.callTool({
          name: 'echo',
          arguments: { message: `after kill ${call}` },
        });
        assert.match(JSON.stringify(echoed.content), /after kill/);
      }
      await client.close();
      const afterKill = await refreshAuthorization(origin, {
        metadata,
        clientInformation: information,
        refreshToken: pairA.refresh_token,
        resource: new URL(mcpUrl),
      });
      provider.saveTokens(afterKill);
      const live = replicas.slice(0, 2);

      // 4. Redis stopped: every replica refuses with 503 and says so on /readyz.
      const jwksBefore = await (await fetch(`${origin}/.well-known/jwks.json`)).text();
      await redis.stop();
      for (const replica of live) {
        const ready = await direct(replica.port, host, 'GET', '/readyz');
        assert.equal(ready.status, 503, `replica ${replica.port} /readyz while Redis is down`);
        const mcp = await direct(
          replica.port,
          host,
          'POST',
          '/mcp',
          mcpHeaders(afterKill.access_token),
          INITIALIZE,
        );
        assert.equal(mcp.status, 503, `replica ${replica.port}: ${mcp.body}`);
        assert.ok(mcp.headers['retry-after'], 'Retry-After on the 503');
        const refresh = await direct(
          replica.port,
          host,
          'POST',
          '/oauth/token',
          formHeaders,
          form(afterKill.refresh_token ?? ''),
        );
        assert.equal(
          refresh.status,
          503,
          `replica ${replica.port} token endpoint: ${refresh.body}`,
        );
        assert.ok(refresh.headers['retry-after'], 'Retry-After on the token endpoint 503');
        assert.match(refresh.body, /temporarily_unavailable/);
      }
      for (const index of [0, 1]) {
        const trail = readFileSync(join(cwd, `audit-${index}.jsonl`), 'utf8');
        assert.match(trail, /StoreUnavailable/, `replica ${index} audited the refusals`);
      }
      // Redis back: recovery without restarting a replica; nothing issued before is lost.
      await redis.restart();
      for (const replica of live) {
        for (;;) {
          const ready = await direct(replica.port, host, 'GET', '/readyz');
          if (ready.status === 200) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      assert.equal(
        await (await fetch(`${origin}/.well-known/jwks.json`)).text(),
        jwksBefore,
        'same keys',
      );
      const recovered = await refreshAuthorization(origin, {
        metadata,
        clientInformation: information,
        refreshToken: afterKill.refresh_token ?? '',
        resource: new URL(mcpUrl),
      });
      provider.saveTokens(recovered);
      client = await connect();
      const echoed = await client.callTool({
        name: 'echo',
        arguments: { message: 'after outage' },
      });
      assert.match(JSON.stringify(echoed.content), /after outage/);
      await client.close();

      // 5. Rate limits are counted once across the replicas, and a session request that lands
      // on a replica not holding the session (404, passed on by nginx) costs that replica nothing.
      await rateLimitAcrossReplicas(t, nginx, mcpUrl, recovered.access_token);

      // 6. A revocation on one replica is refused on the others within one second.
      await revocationSeenElsewhere(t, live, host, recovered.access_token, information.client_id);
    } finally {
      await callback.close();
    }
  });
});
