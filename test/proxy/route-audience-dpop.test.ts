/**
 * Per-route audience holds for DPoP-bound tokens too: a token bound to the caller's key and
 * presented with a good proof (RFC 9449 §7) is still accepted only at the route whose resource
 * it names (MCP authorization, Token Audience Binding; RFC 8707 §2). The proof binds the
 * request to the key, not the token to the route.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CompactSign,
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { accessTokenHash } from '../../src/resource-server/index.ts';
import { gatewayDocument, httpUpstream, loadTestConfig, memoryLogger } from '../helpers/gateway.ts';
import { mcpHeaders, request } from '../helpers/http-client.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

const ISSUER = 'https://issuer.audience-dpop.example';

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'audience-dpop-test', version: '1' },
  },
});

describe('per-route audience with DPoP-bound tokens', () => {
  let jwks: LoopbackServer;
  let issuerKey: CryptoKey;
  let holder: { privateKey: CryptoKey; jwk: JWK; jkt: string };
  const upstreams: Record<'files' | 'notes', RecordingUpstream | undefined> = {
    files: undefined,
    notes: undefined,
  };
  let gateway: RunningPortcullis;
  let publicUrl = '';
  let resourceOf: (path: string) => string;
  let proofs = 0;

  const boundToken = (audience: string) =>
    new SignJWT({ scope: 'files:read', client_id: 'dpop-client', cnf: { jkt: holder.jkt } })
      .setProtectedHeader({ alg: 'ES256', kid: 'i-1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setSubject('alice')
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(issuerKey);

  const proof = (path: string, token: string) =>
    new CompactSign(
      new TextEncoder().encode(
        JSON.stringify({
          jti: `audience-dpop-${++proofs}`,
          htm: 'POST',
          htu: `${publicUrl}${path}`,
          iat: Math.floor(Date.now() / 1000),
          ath: accessTokenHash(token),
        }),
      ),
    )
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: holder.jwk })
      .sign(holder.privateKey);

  const initialize = async (path: string, audience: string) => {
    const token = await boundToken(audience);
    return request(`${gateway.url}${path}`, {
      headers: mcpHeaders({ authorization: `DPoP ${token}`, dpop: await proof(path, token) }),
      body: INITIALIZE,
    });
  };

  before(async () => {
    const issuer = await generateKeyPair('ES256');
    issuerKey = issuer.privateKey;
    const publicJwk = { ...(await exportJWK(issuer.publicKey)), kid: 'i-1', alg: 'ES256' };
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    holder = { privateKey: pair.privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
    jwks = await startLoopbackServer({
      '/jwks.json': (_request, response) => json(response, 200, { keys: [publicJwk] }),
    });
    for (const name of ['files', 'notes'] as const) {
      upstreams[name] = await startRecordingUpstream({ jsonResponse: true });
    }
    const loaded = loadTestConfig({
      ...gatewayDocument({
        auth: 'oauth',
        remoteMcp: { issuer: ISSUER, jwks_url: `${jwks.origin}/jwks.json` },
        upstreams: [
          httpUpstream(upstreams.files?.url ?? '', {
            name: 'files',
            path: '/mcp',
            dpop: 'allowed',
          }),
          httpUpstream(upstreams.notes?.url ?? '', {
            name: 'notes',
            path: '/mcp2',
            dpop: 'required',
          }),
        ],
      }),
      development: { allow_loopback_urls: true },
    });
    gateway = await startPortcullis(loaded, { logger: memoryLogger().logger, audit: false });
    // The live URLs: on an ephemeral port they name the port the system picked.
    publicUrl = gateway.url;
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

  const refusals = [
    { name: 'a bound token for /mcp at /mcp2', path: '/mcp2', upstream: 'notes', aud: '/mcp' },
    { name: 'a bound token for /mcp2 at /mcp', path: '/mcp', upstream: 'files', aud: '/mcp2' },
  ] as const;
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}, proof and all: 401 invalid_token, the upstream sees nothing`, async () => {
      const before = upstreams[refusal.upstream]?.requests.length ?? 0;
      const reply = await initialize(refusal.path, resourceOf(refusal.aud));
      assert.equal(reply.status, 401);
      assert.match(String(reply.headers['www-authenticate']), /error="invalid_token"/);
      // Refused for its audience: the proof itself was good.
      assert.match(String(reply.headers['www-authenticate']), /issued for another resource/);
      assert.equal(upstreams[refusal.upstream]?.requests.length ?? 0, before);
    });
  }

  it('positive control: each bound token, with its proof, works at its own route', async () => {
    for (const [path, name] of [
      ['/mcp', 'files'],
      ['/mcp2', 'notes'],
    ] as const) {
      const before = upstreams[name]?.requests.length ?? 0;
      const reply = await initialize(path, resourceOf(path));
      assert.equal(reply.status, 200, path);
      assert.equal(upstreams[name]?.requests.length, before + 1);
    }
  });
});
