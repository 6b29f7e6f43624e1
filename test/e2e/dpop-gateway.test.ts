/**
 * DPoP end to end through the gateway with the co-located authorization server (RFC 9449): a
 * token bound at the token endpoint works with a fresh proof per request; the same token without
 * a proof, with a proof for another URL or method, a replayed proof, a proof for another token
 * (ath), a stale proof, or a proof by another key is refused with 401 and the DPoP challenge,
 * and the upstream sees nothing; the positive control comes last. Then the MCP TypeScript SDK
 * client (v2) with its own DPoP support completes the flow.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  ClientCredentialsProvider,
  DpopSession,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import {
  CompactSign,
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  type JWK,
} from 'jose';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { AuditSink, FileAuditBackend } from '../../src/audit/index.ts';
import { accessTokenHash } from '../../src/resource-server/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { tempDir } from '../helpers/cli.ts';
import { loadTestConfig, memoryLogger } from '../helpers/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

const SECRET = 'machine-secret-0123456789abcdefghij';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Key = {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: JWK;
  jkt: string;
};
async function makeKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

let counter = 0;
async function proof(
  key: Key,
  claims: { htm: string; htu: string; token?: string; iat?: number; nonce?: string },
): Promise<string> {
  const payload = {
    jti: `e2e-${++counter}-${Date.now()}`,
    htm: claims.htm,
    htu: claims.htu,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.token === undefined ? {} : { ath: accessTokenHash(claims.token) }),
    ...(claims.nonce === undefined ? {} : { nonce: claims.nonce }),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    .sign(key.privateKey);
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'dpop-e2e', version: '1.0.0' },
  },
});

describe('DPoP through the gateway with the co-located authorization server', () => {
  let gateway: RunningPortcullis;
  let upstream: RecordingUpstream;
  let origin = '';
  let auditPath = '';
  let sink: AuditSink;
  const mine = makeKey();
  const theirs = makeKey();

  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    auditPath = join(tempDir(), 'audit.jsonl');
    const route = (name: string, path: string, dpop: string) => ({
      name,
      path,
      url: upstream.url,
      tool_scopes: { '*': 'files:read' },
      dpop,
    });
    const loaded = loadTestConfig(
      {
        remote_mcp: {
          enabled: true,
          bind_address: `127.0.0.1:${port}`,
          auth: 'oauth',
          allowed_scopes: ['files:read'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
          rate_limit_max_requests: 10_000,
        },
        safety: { remote_mcp_enabled: true },
        development: { allow_loopback_urls: true },
        upstreams: [route('files', '/mcp', 'allowed'), route('strict', '/strict', 'required')],
        authorization_server: {
          enabled: true,
          clients: [
            {
              client_id: 'machine',
              client_secret_env: 'MACHINE_SECRET',
              redirect_uris: ['https://machine.example/cb'],
              grant_types: ['client_credentials'],
              scope: ['files:read'],
            },
          ],
        },
      },
      { MACHINE_SECRET: SECRET },
    );
    sink = new AuditSink(new FileAuditBackend(auditPath, 10_000_000));
    gateway = await startPortcullis(loaded, {
      logger: memoryLogger().logger,
      audit: sink,
      store: new MemoryStore(),
    });
  });

  after(async () => {
    await gateway?.close();
    await sink?.close().catch(() => {});
    await upstream?.close();
  });

  /** client_credentials at the co-located token endpoint, with a proof when a key is given. */
  async function token(resource: string, key?: Key): Promise<{ token: string; type: string }> {
    const response = await fetch(`${origin}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`machine:${SECRET}`).toString('base64')}`,
        ...(key ? { dpop: await proof(key, { htm: 'POST', htu: `${origin}/oauth/token` }) } : {}),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
    });
    const body = (await response.json()) as Record<string, string>;
    assert.equal(response.status, 200, JSON.stringify(body));
    return { token: String(body.access_token), type: String(body.token_type) };
  }

  async function post(path: string, headers: Record<string, string>): Promise<Response> {
    return fetch(`${origin}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: INITIALIZE,
    });
  }

  it('the token endpoint issues no Bearer token for a route that requires DPoP', async () => {
    const response = await fetch(`${origin}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`machine:${SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${origin}/strict` }),
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_dpop_proof');
  });

  it('the token endpoint binds the token to the proof key (token_type DPoP, cnf.jkt)', async () => {
    const key = await mine;
    const bound = await token(`${origin}/mcp`, key);
    assert.equal(bound.type, 'DPoP');
    assert.deepEqual(decodeJwt(bound.token).cnf, { jkt: key.jkt });
    const metadata = (await (
      await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    assert.ok(Array.isArray(metadata.dpop_signing_alg_values_supported));
  });

  describe('negative table: 401 with the DPoP challenge, upstream saw nothing', () => {
    const htu = () => `${origin}/mcp`;
    const cases: {
      name: string;
      headers: (bound: string, plain: string) => Promise<Record<string, string>>;
      path?: string;
      error: string;
    }[] = [
      {
        name: 'no proof',
        headers: async (bound) => ({ authorization: `DPoP ${bound}` }),
        error: 'invalid_dpop_proof',
      },
      {
        name: 'a proof for another URL',
        headers: async (bound) => ({
          authorization: `DPoP ${bound}`,
          dpop: await proof(await mine, { htm: 'POST', htu: `${origin}/strict`, token: bound }),
        }),
        error: 'invalid_dpop_proof',
      },
      {
        name: 'a proof for another method',
        headers: async (bound) => ({
          authorization: `DPoP ${bound}`,
          dpop: await proof(await mine, { htm: 'GET', htu: htu(), token: bound }),
        }),
        error: 'invalid_dpop_proof',
      },
      {
        name: 'a proof with the wrong ath',
        headers: async (bound, plain) => ({
          authorization: `DPoP ${bound}`,
          dpop: await proof(await mine, { htm: 'POST', htu: htu(), token: plain }),
        }),
        error: 'invalid_dpop_proof',
      },
      {
        name: 'a stale iat',
        headers: async (bound) => ({
          authorization: `DPoP ${bound}`,
          dpop: await proof(await mine, {
            htm: 'POST',
            htu: htu(),
            token: bound,
            iat: Math.floor(Date.now() / 1000) - 3600,
          }),
        }),
        error: 'invalid_dpop_proof',
      },
      {
        name: 'a proof signed by another key',
        headers: async (bound) => ({
          authorization: `DPoP ${bound}`,
          dpop: await proof(await theirs, { htm: 'POST', htu: htu(), token: bound }),
        }),
        error: 'invalid_token',
      },
      {
        name: 'the bound token sent as Bearer (no downgrade)',
        headers: async (bound) => ({ authorization: `Bearer ${bound}` }),
        error: 'invalid_token',
      },
      {
        name: 'a plain Bearer token on a route that requires DPoP',
        headers: async (_bound, plain) => ({ authorization: `Bearer ${plain}` }),
        path: '/strict',
        error: 'invalid_token',
      },
    ];
    for (const c of cases) {
      it(`refuses ${c.name}`, async () => {
        const bound = (await token(`${origin}${c.path ?? '/mcp'}`, await mine)).token;
        // No Bearer token is issued for a DPoP-only route; one for /mcp shows the scheme refused.
        const plain = (await token(`${origin}/mcp`)).token;
        const seen = upstream.requests.length;
        const response = await post(c.path ?? '/mcp', await c.headers(bound, plain));
        assert.equal(response.status, 401, await response.clone().text());
        const challenge = response.headers.get('www-authenticate') ?? '';
        assert.match(challenge, /DPoP algs="[^"]*ES256[^"]*"/);
        assert.match(challenge, new RegExp(`error="${c.error}"`));
        assert.equal(((await response.json()) as { error: string }).error, c.error);
        assert.equal(upstream.requests.length, seen, 'the upstream saw nothing');
      });
    }

    it('refuses a replayed proof (after its first use went through)', async () => {
      const bound = (await token(`${origin}/mcp`, await mine)).token;
      const once = await proof(await mine, { htm: 'POST', htu: htu(), token: bound });
      const first = await post('/mcp', { authorization: `DPoP ${bound}`, dpop: once });
      assert.equal(first.status, 200, await first.clone().text());
      const seen = upstream.requests.length;
      const again = await post('/mcp', { authorization: `DPoP ${bound}`, dpop: once });
      assert.equal(again.status, 401);
      assert.match(again.headers.get('www-authenticate') ?? '', /error="invalid_dpop_proof"/);
      assert.equal(upstream.requests.length, seen, 'the upstream saw nothing');
    });

    it('positive control: the bound token with a fresh proof reaches the upstream', async () => {
      const bound = (await token(`${origin}/mcp`, await mine)).token;
      const seen = upstream.requests.length;
      const response = await post('/mcp', {
        authorization: `DPoP ${bound}`,
        dpop: await proof(await mine, { htm: 'POST', htu: htu(), token: bound }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(upstream.requests.length, seen + 1);
      const forwarded = upstream.requests.at(-1);
      // The client's credentials never reach the upstream.
      assert.equal(forwarded?.headers.authorization, undefined);
      assert.equal(forwarded?.headers.dpop, undefined);
    });
  });

  it('the audit trail records the sender constraint', async () => {
    const bound = (await token(`${origin}/mcp`, await mine)).token;
    const plain = (await token(`${origin}/mcp`)).token;
    await post('/mcp', {
      authorization: `DPoP ${bound}`,
      dpop: await proof(await mine, { htm: 'POST', htu: `${origin}/mcp`, token: bound }),
    });
    await post('/mcp', { authorization: `Bearer ${plain}` });
    let records: Record<string, unknown>[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      records = readFileSync(auditPath, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((record) => record.upstream === 'files' && record.decision === 'allow');
      if (
        records.some((r) => r.sender_constraint === 'dpop') &&
        records.some((r) => r.sender_constraint === 'bearer')
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(records.some((record) => record.sender_constraint === 'dpop'));
    assert.ok(records.some((record) => record.sender_constraint === 'bearer'));
  });

  it('the MCP TypeScript SDK client (v2) with its DPoP support completes the flow', async () => {
    const session = await DpopSession.create();
    class DpopClientCredentials extends ClientCredentialsProvider {
      dpop() {
        return session;
      }
    }
    const provider = new DpopClientCredentials({
      clientId: 'machine',
      clientSecret: SECRET,
      expectedIssuer: origin,
    });
    const client = new Client({ name: 'sdk-dpop', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${origin}/strict`), {
      authProvider: provider,
    });
    const seen = upstream.requests.length;
    try {
      await client.connect(transport);
      const tools = await client.listTools();
      assert.ok(tools.tools.length > 0);
      const tokens = provider.tokens();
      assert.equal(tokens?.token_type, 'DPoP');
      assert.deepEqual(decodeJwt(String(tokens?.access_token)).cnf, { jkt: session.thumbprint });
      assert.ok(upstream.requests.length > seen);
    } finally {
      await client.close();
    }
  });
});
