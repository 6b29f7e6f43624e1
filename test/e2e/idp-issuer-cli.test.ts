/**
 * Enterprise-managed authorization with `--idp-issuer`: `portcullis login --id-token-env VAR
 * --idp-issuer URL` finds the enterprise identity provider's token endpoint in its metadata
 * (RFC 8414 §3, path insertion for an issuer with a path), exchanges the person's ID token there
 * for an ID-JAG (RFC 8693), and the gateway's co-located authorization server redeems it (JWT
 * bearer grant, RFC 7523); `portcullis call` then uses the stored token. Negative rows: metadata
 * naming another issuer, metadata without a token endpoint, no metadata at all, and an issuer
 * that is neither https nor loopback: each a clear error, with no ID token sent anywhere and
 * nothing issued. Positive control last.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { AuditSink, FileAuditBackend } from '../../src/audit/index.ts';
import { obtainIdJag } from '../../src/client/assertion-grant.ts';
import { ClientError } from '../../src/errors/index.ts';
import type { GuardedFetch } from '../../src/net/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { loadTestConfig, memoryLogger, stdioTestUpstream } from '../helpers/gateway.ts';

const AGENT_SECRET = 'agent-secret-0123456789abcdefghijklmn';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Signer = { privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK };
async function signer(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/**
 * An enterprise identity provider with one tenant per path, so each row gets its own metadata:
 * `good` is honest; `liar` names another issuer; `tokenless` has no token endpoint; `silent`
 * publishes nothing. Every tenant's token endpoint is real and records what reaches it.
 */
interface IdentityProvider {
  readonly origin: string;
  readonly tokenRequests: URLSearchParams[];
  readonly metadataRequests: string[];
  idToken(tenant: string): Promise<string>;
  close(): Promise<void>;
}

async function startIdentityProvider(): Promise<IdentityProvider> {
  const jagKey = await signer('jag');
  const idTokenKey = await signer('id');
  const tokenRequests: URLSearchParams[] = [];
  const metadataRequests: string[] = [];
  let origin = '';
  const metadataFor = (tenant: string): Record<string, unknown> | undefined => {
    const issuer = `${origin}/${tenant}`;
    const base = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${origin}/jwks`,
      response_types_supported: ['code'],
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:token-exchange'],
    };
    if (tenant === 'good') return base;
    if (tenant === 'liar') return { ...base, issuer: `${origin}/good` };
    if (tenant === 'tokenless') {
      const { token_endpoint: _dropped, ...rest } = base;
      return rest;
    }
    return undefined;
  };
  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', origin);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (url.pathname === '/jwks') return json(200, { keys: [jagKey.jwk] });
    const wellKnown =
      /^\/\.well-known\/(?:oauth-authorization-server|openid-configuration)\/(\w+)$/.exec(
        url.pathname,
      )?.[1];
    if (wellKnown !== undefined) {
      metadataRequests.push(wellKnown);
      const metadata = metadataFor(wellKnown);
      return metadata === undefined ? json(404, { error: 'not_found' }) : json(200, metadata);
    }
    const tenant = /^\/(\w+)\/token$/.exec(url.pathname)?.[1];
    if (tenant === undefined || request.method !== 'POST') return json(404, {});
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    tokenRequests.push(form);
    try {
      const issuer = `${origin}/${tenant}`;
      const { payload } = await jwtVerify(
        form.get('subject_token') ?? '',
        await importJWK(idTokenKey.jwk, 'ES256'),
        { issuer, audience: 'idp-client' },
      );
      const now = Math.floor(Date.now() / 1000);
      const jag = await new SignJWT({
        client_id: 'agent',
        resource: form.get('resource'),
        scope: 'files:read',
      })
        .setProtectedHeader({ alg: 'ES256', kid: 'jag', typ: 'oauth-id-jag+jwt' })
        .setIssuer(issuer)
        .setSubject(String(payload.sub))
        .setAudience(form.get('audience') ?? '')
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .setJti(crypto.randomUUID())
        .sign(jagKey.privateKey);
      return json(200, {
        access_token: jag,
        issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
        token_type: 'N_A',
        expires_in: 300,
      });
    } catch {
      return json(400, { error: 'invalid_grant' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    tokenRequests,
    metadataRequests,
    async idToken(tenant) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ email: 'alice@corp.example' })
        .setProtectedHeader({ alg: 'ES256', kid: 'id' })
        .setIssuer(`${origin}/${tenant}`)
        .setSubject('alice')
        .setAudience('idp-client')
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(idTokenKey.privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('portcullis login with --id-token-env and --idp-issuer', () => {
  let idp: IdentityProvider;
  let gateway: RunningPortcullis;
  let origin = '';
  let sink: AuditSink;
  let auditPath = '';

  /** Access tokens the authorization server has issued so far, from its audit trail. */
  async function issuedCount(): Promise<number> {
    await sink.flush();
    if (!existsSync(auditPath)) return 0;
    return readFileSync(auditPath, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"oauth.token.issued"')).length;
  }

  before(async () => {
    idp = await startIdentityProvider();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const loaded = loadTestConfig(
      {
        remote_mcp: {
          enabled: true,
          bind_address: `127.0.0.1:${port}`,
          auth: 'oauth',
          allowed_scopes: ['files:read', 'files:write', 'mcp:resources', 'mcp:prompts'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
          rate_limit_max_requests: 10_000,
        },
        safety: { remote_mcp_enabled: true },
        development: { allow_loopback_urls: true },
        upstreams: [stdioTestUpstream()],
        authorization_server: {
          enabled: true,
          clients: [
            {
              client_id: 'agent',
              client_secret_env: 'AGENT_SECRET',
              redirect_uris: ['https://agent.example/cb'],
              grant_types: [JWT_BEARER],
            },
          ],
          // Every tenant is trusted, so a refusal can only come from the client's own checks.
          trusted_identity_providers: ['good', 'liar', 'tokenless', 'silent'].map((tenant) => ({
            issuer: `${idp.origin}/${tenant}`,
            jwks_url: `${idp.origin}/jwks`,
            algorithms: ['ES256'],
            allowed_clients: ['agent'],
          })),
        },
      },
      { AGENT_SECRET },
    );
    auditPath = join(tempDir(), 'audit.jsonl');
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
    await idp?.close();
  });

  async function login(tenantIssuer: string, idToken: string, store: string) {
    return runCli(
      [
        'login',
        `${origin}/mcp`,
        '--client-id',
        'agent',
        '--client-secret-env',
        'AGENT_SECRET',
        '--id-token-env',
        'ID_TOKEN',
        '--idp-issuer',
        tenantIssuer,
        '--idp-client-id',
        'idp-client',
        '--token-store',
        store,
      ],
      { AGENT_SECRET, ID_TOKEN: idToken, PORTCULLIS_TOKEN_KEY: 'a'.repeat(64) },
    );
  }

  const rows: [string, string, RegExp][] = [
    [
      'metadata naming another issuer',
      'liar',
      /ClientIssuerMismatch: .*names issuer ".*\/good", expected ".*\/liar"/,
    ],
    ['metadata without a token endpoint', 'tokenless', /ClientDiscoveryFailed: .*token_endpoint/],
    ['no metadata at all', 'silent', /ClientDiscoveryFailed: .*publishes no .*metadata/],
  ];
  for (const [name, tenant, message] of rows) {
    it(`refuses ${name}: a clear error, no ID token sent, nothing issued`, async () => {
      const sent = idp.tokenRequests.length;
      const tokens = await issuedCount();
      const result = await login(
        `${idp.origin}/${tenant}`,
        await idp.idToken(tenant),
        join(tempDir(), tenant),
      );
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
      assert.ok(idp.metadataRequests.includes(tenant), 'the metadata was asked for');
      assert.equal(idp.tokenRequests.length, sent, 'no ID token reached a token endpoint');
      assert.equal(await issuedCount(), tokens, 'nothing issued');
    });
  }

  it('refuses an issuer that is neither https nor loopback before sending anything', async () => {
    const sent = idp.tokenRequests.length;
    const asked = idp.metadataRequests.length;
    const result = await login(
      'http://idp.corp.example/good',
      await idp.idToken('good'),
      join(tempDir(), 'plain'),
    );
    assert.notEqual(result.code, 0);
    assert.match(
      result.stderr,
      /ClientDiscoveryFailed: the identity provider issuer "http:\/\/idp\.corp\.example\/good" is refused: it is neither https nor http to a loopback host/,
    );
    assert.equal(idp.metadataRequests.length, asked);
    assert.equal(idp.tokenRequests.length, sent);
  });

  it('positive control: discovers the token endpoint, exchanges the ID token, redeems the ID-JAG; call uses the token', async () => {
    const store = join(tempDir(), 'good');
    const sent = idp.tokenRequests.length;
    const tokens = await issuedCount();
    const result = await login(`${idp.origin}/good`, await idp.idToken('good'), store);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await issuedCount(), tokens + 1, 'one access token issued');
    assert.equal(idp.tokenRequests.length, sent + 1, 'one token exchange');
    const exchange = idp.tokenRequests.at(-1);
    assert.equal(exchange?.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.equal(exchange?.get('requested_token_type'), 'urn:ietf:params:oauth:token-type:id-jag');
    assert.equal(exchange?.get('audience'), gateway.authorizationServer?.issuer);
    assert.equal(exchange?.get('resource'), `${origin}/mcp`);
    const call = await runCli(
      ['call', `${origin}/mcp`, 'pid', '--non-interactive', '--token-store', store],
      { AGENT_SECRET, PORTCULLIS_TOKEN_KEY: 'a'.repeat(64) },
    );
    assert.equal(call.code, 0, call.stderr);
    assert.match(call.stdout, /\d+/);
  });
});

describe('obtainIdJag with idpIssuer: refused URLs send nothing', () => {
  const cases: [string, string][] = [
    ['plain http to another host', 'http://idp.example'],
    ['a query', 'https://idp.example/?tenant=1'],
    ['a fragment', 'https://idp.example/#x'],
    ['credentials', 'https://user:pass@idp.example'],
    ['not a URL', 'idp.example'],
  ];
  for (const [name, issuer] of cases) {
    it(`an issuer with ${name}`, async () => {
      const calls: string[] = [];
      const spy = (async (input: string | URL | Request) => {
        calls.push(String(input));
        return new Response('{}', { status: 404 });
      }) as unknown as GuardedFetch;
      await assert.rejects(
        obtainIdJag({
          idpIssuer: issuer,
          idToken: 'eyJ.a.b',
          idpClientId: 'idp-client',
          audience: 'https://as.example',
          resource: 'https://mcp.example/mcp',
          fetch: spy,
        }),
        (error: unknown) =>
          error instanceof ClientError &&
          error.code === 'ClientDiscoveryFailed' &&
          /is refused/.test(error.message),
      );
      assert.deepEqual(calls, []);
    });
  }

  it('positive control: an https issuer is asked for its metadata', async () => {
    const calls: string[] = [];
    const spy = (async (input: string | URL | Request) => {
      calls.push(String(input));
      return new Response('{}', { status: 404 });
    }) as unknown as GuardedFetch;
    await assert.rejects(
      obtainIdJag({
        idpIssuer: 'https://idp.example/tenant',
        idToken: 'eyJ.a.b',
        idpClientId: 'idp-client',
        audience: 'https://as.example',
        resource: 'https://mcp.example/mcp',
        fetch: spy,
      }),
      (error: unknown) => error instanceof ClientError && /publishes no/.test(error.message),
    );
    assert.ok(calls.length > 0);
    // Only metadata documents, only at the issuer's origin (RFC 8414 §3.1, OIDC Discovery §4).
    assert.ok(
      calls.every((url) => url.startsWith('https://idp.example/') && url.includes('/.well-known/')),
      calls.join(' '),
    );
  });
});
