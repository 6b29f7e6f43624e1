/**
 * `portcullis call` against the gateway with its co-located authorization server: DPoP-bound
 * tokens obtained and presented by the CLI (`--dpop`), and a workload identity login
 * (`--assertion-file`) through the JWT bearer grant, on routes that accept DPoP and one that
 * requires it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { loadTestConfig, memoryLogger, stdioTestUpstream } from '../helpers/gateway.ts';

const SECRET = 'machine-secret-0123456789abcdefghij';
const WORKLOADS = 'https://workloads.example';
const SPIFFE_ID = 'spiffe://example.org/ns/ci/sa/agent';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('portcullis call with DPoP and assertion logins', () => {
  let gateway: RunningPortcullis;
  let origin = '';
  let store = '';
  let jwks: { keys: unknown[] } = { keys: [] };
  const workloadKey = generateKeyPair('ES256', { extractable: true });
  let keyServer: ReturnType<typeof import('node:http').createServer>;

  before(async () => {
    const key = await workloadKey;
    jwks = { keys: [{ ...(await exportJWK(key.publicKey)), kid: 'wl', alg: 'ES256' }] };
    const http = await import('node:http');
    keyServer = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    const keyPort = (keyServer.address() as { port: number }).port;
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    store = join(tempDir(), 'tokens');
    const loaded = loadTestConfig(
      {
        remote_mcp: {
          enabled: true,
          bind_address: `127.0.0.1:${port}`,
          auth: 'oauth',
          allowed_scopes: ['files:read', 'files:write', 'mcp:resources', 'mcp:prompts'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
          rate_limit_max_requests: 10_000,
          dpop_nonces: true,
        },
        safety: { remote_mcp_enabled: true },
        development: { allow_loopback_urls: true },
        upstreams: [
          stdioTestUpstream({ dpop: 'allowed' }),
          stdioTestUpstream({ name: 'strict', path: '/strict', dpop: 'required' }),
        ],
        authorization_server: {
          enabled: true,
          clients: [
            {
              client_id: 'machine',
              client_secret_env: 'MACHINE_SECRET',
              redirect_uris: ['https://machine.example/cb'],
              grant_types: ['client_credentials'],
            },
            {
              client_id: 'workload',
              redirect_uris: ['https://workload.example/cb'],
              grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
            },
          ],
          trusted_identity_providers: [
            {
              issuer: WORKLOADS,
              jwks_url: `http://127.0.0.1:${keyPort}/jwks`,
              algorithms: ['ES256'],
              kind: 'workload',
              allowed_clients: ['workload'],
              required_claims: { sub: SPIFFE_ID },
            },
          ],
        },
      },
      { MACHINE_SECRET: SECRET },
    );
    gateway = await startPortcullis(loaded, {
      logger: memoryLogger().logger,
      audit: false,
      store: new MemoryStore(),
    });
  });

  after(async () => {
    await gateway?.close();
    await new Promise((resolve) => keyServer?.close(resolve));
  });

  const env = () => ({ MACHINE_SECRET: SECRET, PORTCULLIS_TOKEN_KEY: 'a'.repeat(64) });

  it('--dpop required with client credentials: a bound token, proofs and nonces, the tool runs', async () => {
    const result = await runCli(
      [
        'call',
        `${origin}/strict`,
        'pid',
        '--grant',
        'client_credentials',
        '--client-id',
        'machine',
        '--client-secret-env',
        'MACHINE_SECRET',
        '--dpop',
        'required',
        '--token-store',
        join(store, 'dpop'),
      ],
      env(),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\d+/);
  });

  it('--dpop off on a route that requires DPoP: refused (positive control of the mode)', async () => {
    const result = await runCli(
      [
        'call',
        `${origin}/strict`,
        'pid',
        '--grant',
        'client_credentials',
        '--client-id',
        'machine',
        '--client-secret-env',
        'MACHINE_SECRET',
        '--dpop',
        'off',
        '--token-store',
        join(store, 'bearer'),
      ],
      env(),
    );
    assert.notEqual(result.code, 0);
    // No Bearer token is issued for a route that accepts only DPoP, and the error says why.
    assert.match(result.stderr, /ClientTokenRequestFailed: .*accepts only DPoP-bound tokens/);
  });

  it('login --assertion-file stores a DPoP-bound token; call --non-interactive presents it with proofs', async () => {
    const key = await workloadKey;
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'wl', typ: 'JWT' })
      .setIssuer(WORKLOADS)
      .setSubject(SPIFFE_ID)
      .setAudience(gateway.authorizationServer?.issuer ?? origin)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .setJti(crypto.randomUUID())
      .sign(key.privateKey);
    const file = join(tempDir(), 'login.jwt');
    writeFileSync(file, jwt, { mode: 0o600 });
    const tokens = join(store, 'login');
    const login = await runCli(
      [
        'login',
        `${origin}/strict`,
        '--client-id',
        'workload',
        '--assertion-file',
        file,
        '--token-store',
        tokens,
      ],
      env(),
    );
    assert.equal(login.code, 0, login.stderr);
    const call = await runCli(
      ['call', `${origin}/strict`, 'pid', '--non-interactive', '--token-store', tokens],
      env(),
    );
    // /strict accepts only DPoP: the stored token is bound and every request carries a proof.
    assert.equal(call.code, 0, call.stderr);
  });

  it('--assertion-file: a workload JWT logs in through the JWT bearer grant', async () => {
    const key = await workloadKey;
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'wl', typ: 'JWT' })
      .setIssuer(WORKLOADS)
      .setSubject(SPIFFE_ID)
      .setAudience(gateway.authorizationServer?.issuer ?? origin)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .setJti(crypto.randomUUID())
      .sign(key.privateKey);
    const file = join(tempDir(), 'workload.jwt');
    writeFileSync(file, `${jwt}\n`, { mode: 0o600 });
    const result = await runCli(
      [
        'call',
        `${origin}/mcp`,
        'pid',
        '--client-id',
        'workload',
        '--assertion-file',
        file,
        '--token-store',
        join(store, 'workload'),
      ],
      env(),
    );
    assert.equal(result.code, 0, result.stderr);
  });
});

describe('client flags for DPoP and assertion logins: usage errors name the fix', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown --dpop mode', ['--dpop', 'sometimes'], /--dpop must be auto, required, off/],
    [
      'an assertion file without --client-id',
      ['--assertion-file', '/tmp/x.jwt'],
      /needs --client-id/,
    ],
    [
      'an ID token without the identity provider',
      ['--client-id', 'c', '--id-token-env', 'ID_TOKEN'],
      /--idp-token-endpoint or --idp-issuer/,
    ],
    [
      'identity provider flags without an ID token',
      ['--idp-client-id', 'c'],
      /--idp-client-id needs --id-token-env/,
    ],
    [
      'an assertion file with a grant',
      ['--client-id', 'c', '--assertion-file', '/tmp/x.jwt', '--grant', 'authorization_code'],
      /its own grant/,
    ],
  ];
  for (const [name, flags, message] of cases) {
    it(name, async () => {
      const result = await runCli(['call', 'https://mcp.example/mcp', 'tool', ...flags], {
        ID_TOKEN: 'eyJ.a.b',
        PORTCULLIS_TOKEN_KEY: 'a'.repeat(64),
      });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
    });
  }
});
