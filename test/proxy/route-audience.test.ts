/**
 * Per-route audience: a token issued for one upstream's resource is accepted only at that
 * route, never at another upstream of the same gateway (MCP authorization, Token Audience
 * Binding; RFC 8707 §2). `upstreams[].audiences` widens one route deliberately.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { gatewayDocument, httpUpstream, loadTestConfig, memoryLogger } from '../helpers/gateway.ts';
import { mcpHeaders, request } from '../helpers/http-client.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

const ISSUER = 'https://issuer.audience.example';
const LEGACY = 'https://legacy.example/api';

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'audience-test', version: '1' },
  },
});

describe('per-route audience', () => {
  let jwks: LoopbackServer;
  let privateKey: CryptoKey;
  const upstreams: Record<'files' | 'notes' | 'wide', RecordingUpstream | undefined> = {
    files: undefined,
    notes: undefined,
    wide: undefined,
  };
  let gateway: RunningPortcullis;
  let resourceOf: (path: string) => string;

  const token = (audience: string | string[]) =>
    new SignJWT({ scope: 'files:read', client_id: 'audience-client' })
      .setProtectedHeader({ alg: 'ES256', kid: 'a-1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setSubject('alice')
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'a-1', alg: 'ES256' };
    jwks = await startLoopbackServer({
      '/jwks.json': (_request, response) => json(response, 200, { keys: [publicJwk] }),
    });
    for (const name of ['files', 'notes', 'wide'] as const) {
      upstreams[name] = await startRecordingUpstream({ jsonResponse: true });
    }
    const loaded = loadTestConfig({
      ...gatewayDocument({
        auth: 'oauth',
        remoteMcp: { issuer: ISSUER, jwks_url: `${jwks.origin}/jwks.json` },
        upstreams: [
          httpUpstream(upstreams.files?.url ?? '', { name: 'files', path: '/mcp' }),
          httpUpstream(upstreams.notes?.url ?? '', { name: 'notes', path: '/mcp2' }),
          httpUpstream(upstreams.wide?.url ?? '', {
            name: 'wide',
            path: '/mcp3',
            audiences: [LEGACY],
          }),
        ],
      }),
      development: { allow_loopback_urls: true },
    });
    gateway = await startPortcullis(loaded, { logger: memoryLogger().logger, audit: false });
    // The live resource URIs: on an ephemeral port they name the port the system picked.
    const resources = new Map(
      gateway.gateway.routes.routes.map((entry) => [entry.path, entry.resource]),
    );
    resourceOf = (path) => resources.get(path) ?? '';
  });

  after(async () => {
    await gateway?.close();
    for (const upstream of Object.values(upstreams)) await upstream?.close();
    await jwks?.close();
  });

  const initialize = async (path: string, audience: string | string[]) =>
    request(`${gateway.url}${path}`, {
      headers: mcpHeaders({ authorization: `Bearer ${await token(audience)}` }),
      body: INITIALIZE,
    });

  const refusals: {
    name: string;
    path: string;
    upstream: keyof typeof upstreams;
    aud: () => string | string[];
  }[] = [
    {
      name: 'a token for /mcp at /mcp2',
      path: '/mcp2',
      upstream: 'notes',
      aud: () => resourceOf('/mcp'),
    },
    {
      name: 'a token for /mcp2 at /mcp',
      path: '/mcp',
      upstream: 'files',
      aud: () => resourceOf('/mcp2'),
    },
    {
      name: 'a token for /mcp at /mcp3 (widened to another audience only)',
      path: '/mcp3',
      upstream: 'wide',
      aud: () => resourceOf('/mcp'),
    },
    {
      name: 'a token for the widened audience at /mcp (widening is per route)',
      path: '/mcp',
      upstream: 'files',
      aud: () => LEGACY,
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}: 401 invalid_token, the upstream sees nothing`, async () => {
      const before = upstreams[refusal.upstream]?.requests.length ?? 0;
      const reply = await initialize(refusal.path, refusal.aud());
      assert.equal(reply.status, 401);
      assert.match(String(reply.headers['www-authenticate']), /error="invalid_token"/);
      assert.match(
        String(reply.headers['www-authenticate']),
        new RegExp(
          `resource_metadata="[^"]*/\\.well-known/oauth-protected-resource${refusal.path}"`,
        ),
      );
      assert.equal(upstreams[refusal.upstream]?.requests.length ?? 0, before);
    });
  }

  it('positive control: each token works at its own route, and the widened audience at /mcp3', async () => {
    for (const [path, aud, name] of [
      ['/mcp', resourceOf('/mcp'), 'files'],
      ['/mcp2', resourceOf('/mcp2'), 'notes'],
      ['/mcp3', resourceOf('/mcp3'), 'wide'],
      ['/mcp3', LEGACY, 'wide'],
      ['/mcp2', [resourceOf('/mcp2'), 'https://unrelated.example'], 'notes'],
    ] as const) {
      const before = upstreams[name]?.requests.length ?? 0;
      const reply = await initialize(path, aud as string | string[]);
      assert.equal(reply.status, 200, `${path} with ${String(aud)}`);
      assert.equal(upstreams[name]?.requests.length, before + 1);
    }
  });
});
