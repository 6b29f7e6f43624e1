import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { startPortcullis } from '../../src/assembly/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  EVERYTHING_ENTRY,
  gatewayDocument,
  loadTestConfig,
  memoryLogger,
} from '../helpers/gateway.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';

/**
 * The wiring of token verification into the gateway, end to end: a real issuer key published as
 * a JWKS on loopback, the configured verifier fetching it through the SSRF guard (development
 * switch), the official MCP SDK client with a bearer token, server-everything over stdio behind
 * a recorder. No test doubles.
 */

const RECORDER = fileURLToPath(new URL('../helpers/stdio-recorder.ts', import.meta.url));
const ISSUER = 'https://issuer.e2e.example';
const TOOL_SCOPES = { echo: 'demo:read', 'get-sum': 'demo:read', 'get-env': 'demo:admin' };

let jwks: LoopbackServer;
let privateKey: CryptoKey;
let otherKey: CryptoKey;
let gateway: Awaited<ReturnType<typeof startPortcullis>>;
let recordFile: string;
let resource: string;

async function token(
  claims: Record<string, unknown> = {},
  options: { key?: CryptoKey; kid?: string; exp?: number; iat?: number } = {},
): Promise<string> {
  const jwt = new SignJWT({ scope: 'demo:read', client_id: 'e2e-client', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'e2e-1', typ: 'at+jwt' })
    .setIssuer(typeof claims.iss === 'string' ? claims.iss : ISSUER)
    .setAudience((claims.aud as string | undefined) ?? resource)
    .setSubject('alice')
    .setJti(crypto.randomUUID())
    .setIssuedAt(options.iat)
    .setExpirationTime(options.exp ?? '5m');
  return jwt.sign(options.key ?? privateKey);
}

function upstreamToolCalls(): string[] {
  let text = '';
  try {
    text = readFileSync(recordFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { method?: string; params?: { name?: string } })
    .filter((message) => message.method === 'tools/call')
    .map((message) => message.params?.name ?? '');
}

async function post(
  accessToken: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return fetch(`${gateway.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

async function connect(accessToken: string): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    }),
  );
  return client;
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
};

describe('gateway with auth: oauth and a real issuer key set', () => {
  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const publicJwk: JWK = {
      ...(await exportJWK(pair.publicKey)),
      kid: 'e2e-1',
      alg: 'ES256',
      use: 'sig',
    };
    jwks = await startLoopbackServer({
      '/jwks.json': (_request, response) => json(response, 200, { keys: [publicJwk] }),
    });
    recordFile = join(tempDir(), 'received.jsonl');
    // The development switch lets the verifier fetch the loopback JWKS (the SSRF guard's rule).
    const loaded = loadTestConfig({
      ...gatewayDocument({
        auth: 'oauth',
        allowedScopes: ['demo:read', 'demo:admin'],
        remoteMcp: { issuer: ISSUER, jwks_url: `${jwks.origin}/jwks.json` },
        upstreams: [
          {
            name: 'everything',
            path: '/mcp',
            command: process.execPath,
            args: [RECORDER, recordFile, process.execPath, EVERYTHING_ENTRY, 'stdio'],
            tool_scopes: TOOL_SCOPES,
          },
        ],
      }),
      development: { allow_loopback_urls: true },
    });
    const { logger } = memoryLogger();
    // The assembler loads the key set before it listens.
    gateway = await startPortcullis(loaded, { logger, audit: false });
    // Tokens carry the audience the gateway derived for the route (RFC 8707).
    resource = gateway.gateway.routes.routes[0]?.resource ?? '';
  });

  after(async () => {
    await gateway?.close();
    await jwks?.close();
  });

  it('publishes protected resource metadata naming the issuer and scopes (RFC 9728)', async () => {
    const response = await fetch(`${gateway.url}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(response.status, 200);
    const document = (await response.json()) as Record<string, unknown>;
    assert.equal(document.resource, resource);
    assert.deepEqual(document.authorization_servers, [ISSUER]);
    assert.deepEqual(document.bearer_methods_supported, ['header']);
    assert.ok((document.scopes_supported as string[]).includes('demo:read'));
  });

  it('the SDK client lists filtered tools and calls one with a real token', async () => {
    const client = await connect(await token());
    try {
      const { tools } = await client.listTools();
      const names = tools.map((tool) => tool.name);
      assert.ok(names.includes('echo'));
      assert.ok(!names.includes('get-env'), 'a tool outside the token is hidden');
      const echo = tools.find((tool) => tool.name === 'echo');
      assert.equal(
        (echo?._meta as Record<string, unknown> | undefined)?.['portcullis/scope'],
        'demo:read',
      );
      const result = await client.callTool({
        name: 'echo',
        arguments: { message: 'through the gateway' },
      });
      assert.match(JSON.stringify(result.content), /through the gateway/);
    } finally {
      await client.close();
    }
  });

  it('a tool outside the token: 403 insufficient_scope naming the scope, upstream saw nothing', async () => {
    const before = upstreamToolCalls().filter((name) => name === 'get-env').length;
    const accessToken = await token();
    const init = await post(accessToken, INITIALIZE);
    const session = init.headers.get('mcp-session-id') ?? '';
    await init.body?.cancel();
    const response = await post(
      accessToken,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get-env', arguments: {} } },
      { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    );
    assert.equal(response.status, 403);
    const challenge = response.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer error="insufficient_scope"/);
    assert.match(challenge, /scope="demo:admin"/);
    assert.match(
      challenge,
      /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    assert.equal(((await response.json()) as { code: string }).code, 'AuthMissingScope');
    assert.equal(upstreamToolCalls().filter((name) => name === 'get-env').length, before);
  });

  const rejections: {
    name: string;
    token: () => Promise<string | undefined>;
    header?: (token: string | undefined) => Record<string, string>;
    status: number;
    code: string;
    challenge: RegExp;
  }[] = [
    {
      name: 'no token',
      token: async () => undefined,
      status: 401,
      code: 'AuthTokenMissing',
      challenge: /^Bearer scope="[^"]*demo:read[^"]*", resource_metadata="/,
    },
    {
      name: 'expired token',
      token: () =>
        token(
          {},
          { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 },
        ),
      status: 401,
      code: 'AuthTokenExpired',
      challenge: /error="invalid_token"/,
    },
    {
      name: 'wrong audience',
      token: () => token({ aud: 'https://other.example/mcp' }),
      status: 401,
      code: 'AuthInvalidAudience',
      challenge: /error="invalid_token"/,
    },
    {
      name: 'wrong issuer',
      token: () => token({ iss: 'https://evil.example' }),
      status: 401,
      code: 'AuthInvalidIssuer',
      challenge: /error="invalid_token"/,
    },
    {
      name: 'signed by another key under the same kid',
      token: () => token({}, { key: otherKey }),
      status: 401,
      code: 'AuthTokenInvalid',
      challenge: /error="invalid_token"/,
    },
    {
      name: 'not a JWT',
      token: async () => 'opaque-garbage',
      status: 401,
      code: 'AuthTokenInvalid',
      challenge: /error="invalid_token"/,
    },
    {
      name: 'Basic scheme',
      token: async () => undefined,
      header: () => ({ authorization: 'Basic YTpi' }),
      status: 400,
      code: 'AuthInvalidRequest',
      challenge: /error="invalid_request"/,
    },
  ];
  for (const c of rejections) {
    it(`refuses ${c.name}: ${c.status} ${c.code}, upstream saw nothing`, async () => {
      const calls = upstreamToolCalls().length;
      const accessToken = await c.token();
      const response = await post(
        accessToken,
        {
          jsonrpc: '2.0',
          id: 3,
          method: 'tools/call',
          params: { name: 'echo', arguments: { message: 'x' } },
        },
        c.header?.(accessToken) ?? {},
      );
      assert.equal(response.status, c.status, await response.clone().text());
      assert.equal(((await response.json()) as { code: string }).code, c.code);
      assert.match(response.headers.get('www-authenticate') ?? '', c.challenge);
      assert.equal(upstreamToolCalls().length, calls);
    });
  }

  it('positive control: the same request with a valid token reaches the upstream', async () => {
    const accessToken = await token();
    const init = await post(accessToken, INITIALIZE);
    assert.equal(init.status, 200);
    const session = init.headers.get('mcp-session-id') ?? '';
    await init.body?.cancel();
    const calls = upstreamToolCalls().length;
    const response = await post(
      accessToken,
      {
        jsonrpc: '2.0',
        id: 4,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'ok' } },
      },
      { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    );
    assert.equal(response.status, 200);
    await response.text();
    assert.equal(upstreamToolCalls().length, calls + 1);
  });
});
