/**
 * TK-: the token endpoint (cases in docs/security-cases.md), the authorization_code and
 * client_credentials grants. Negative cases assert status and error code; the table ends with a
 * positive control. Concurrency: 20 parallel redemptions of one code, exactly one succeeds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { CONFIDENTIAL_SECRET, createHarness, type Harness, newPkce, type Pkce } from './harness.ts';

const LOOPBACK = 'http://127.0.0.1:4567/cb';

interface Issued {
  readonly code: string;
  readonly pkce: Pkce;
  readonly redirectUri: string;
}

async function freshCode(h: Harness, clientId = 'pre-public', scope?: string): Promise<Issued> {
  const pkce = newPkce();
  const landed = await h.authorize({
    clientId,
    pkce,
    redirectUri: LOOPBACK,
    ...(scope === undefined ? {} : { scope }),
  });
  const code = landed.searchParams.get('code');
  if (code === null) throw new Error(`no code: ${landed.href}`);
  return { code, pkce, redirectUri: LOOPBACK };
}

function exchange(h: Harness, issued: Issued, overrides: Record<string, string | undefined> = {}) {
  return h.token({
    grant_type: 'authorization_code',
    code: issued.code,
    redirect_uri: issued.redirectUri,
    code_verifier: issued.pkce.verifier,
    client_id: 'pre-public',
    resource: h.resource,
    ...overrides,
  });
}

interface Case {
  readonly id: string;
  readonly name: string;
  readonly run: (
    h: Harness,
  ) => Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  readonly status: number;
  readonly error?: string;
}

const raw = async (h: Harness, init: RequestInit) => {
  const response = await fetch(`${h.url}/oauth/token`, { method: 'POST', ...init });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    headers: response.headers,
  };
};

const CASES: readonly Case[] = [
  {
    id: 'TK-03',
    name: 'code of client A redeemed by client B',
    run: async (h) => exchange(h, await freshCode(h), { client_id: 'codes-only' }),
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-04',
    name: 'redirect_uri differs from the authorization request',
    run: async (h) => {
      const issued = await freshCode(h);
      return exchange(h, issued, { redirect_uri: `${issued.redirectUri}?thensome` });
    },
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-04',
    name: 'redirect_uri missing',
    run: async (h) => exchange(h, await freshCode(h), { redirect_uri: undefined }),
    status: 400,
    error: 'invalid_request',
  },
  {
    id: 'TK-05',
    name: 'code_verifier missing',
    run: async (h) => exchange(h, await freshCode(h), { code_verifier: undefined }),
    status: 400,
    error: 'invalid_request',
  },
  {
    id: 'TK-05',
    name: 'code_verifier wrong',
    run: async (h) => exchange(h, await freshCode(h), { code_verifier: newPkce().verifier }),
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-05',
    name: 'code_verifier of 42 characters',
    run: async (h) => exchange(h, await freshCode(h), { code_verifier: 'a'.repeat(42) }),
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-05',
    name: 'code_verifier of 129 characters',
    run: async (h) => exchange(h, await freshCode(h), { code_verifier: 'a'.repeat(129) }),
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-05',
    name: 'code_verifier with a bad character',
    run: async (h) => exchange(h, await freshCode(h), { code_verifier: `${'a'.repeat(50)}+` }),
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-07',
    name: 'expired code (60 s)',
    run: async (h) => {
      const issued = await freshCode(h);
      h.clock.advance(60_000);
      return exchange(h, issued);
    },
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'TK-08',
    name: 'resource differs from the authorized one',
    run: async (h) => exchange(h, await freshCode(h), { resource: `${h.url}/other` }),
    status: 400,
    error: 'invalid_target',
  },
  {
    id: 'TK-08',
    name: 'resource unknown',
    run: async (h) => exchange(h, await freshCode(h), { resource: 'https://evil.example/mcp' }),
    status: 400,
    error: 'invalid_target',
  },
  {
    id: 'TK-09',
    name: 'grant_type=password',
    run: async (h) =>
      h.token({
        grant_type: 'password',
        username: 'alice',
        password: 'x',
        client_id: 'pre-public',
      }),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    id: 'TK-09',
    name: 'grant_type=implicit',
    run: async (h) => h.token({ grant_type: 'implicit', client_id: 'pre-public' }),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    id: 'TK-09',
    name: 'grant_type unknown',
    run: async (h) =>
      h.token({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        client_id: 'pre-public',
      }),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    id: 'TK-09',
    name: 'grant_type missing',
    run: async (h) => h.token({ client_id: 'pre-public', code: 'x' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    id: 'TK-10',
    name: 'public client sends a client_secret',
    run: async (h) => exchange(h, await freshCode(h), { client_secret: 'guess' }),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-10',
    name: 'public client over HTTP Basic',
    run: async (h) => h.token({ grant_type: 'authorization_code', code: 'x' }, ['pre-public', 'x']),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-10',
    name: 'confidential client with a wrong secret (Basic)',
    run: async (h) =>
      h.token({ grant_type: 'client_credentials', resource: h.resource }, ['machine', 'wrong']),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-10',
    name: 'confidential client with a wrong secret (post)',
    run: async (h) =>
      h.token({
        grant_type: 'client_credentials',
        resource: h.resource,
        client_id: 'machine',
        client_secret: `${CONFIDENTIAL_SECRET}x`,
      }),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-10',
    name: 'confidential client without a secret',
    run: async (h) =>
      h.token({ grant_type: 'client_credentials', resource: h.resource, client_id: 'machine' }),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-10',
    name: 'two authentication methods at once',
    run: async (h) =>
      h.token(
        {
          grant_type: 'client_credentials',
          resource: h.resource,
          client_secret: CONFIDENTIAL_SECRET,
        },
        ['machine', CONFIDENTIAL_SECRET],
      ),
    status: 400,
    error: 'invalid_request',
  },
  {
    id: 'TK-10',
    name: 'unknown client',
    run: async (h) => exchange(h, await freshCode(h), { client_id: 'nobody' }),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-10',
    name: 'no client identification at all',
    run: async (h) => exchange(h, await freshCode(h), { client_id: undefined }),
    status: 401,
    error: 'invalid_client',
  },
  {
    id: 'TK-12',
    name: 'JSON body instead of a form',
    run: (h) =>
      raw(h, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'authorization_code', client_id: 'pre-public' }),
      }),
    status: 400,
    error: 'invalid_request',
  },
  {
    id: 'TK-12',
    name: 'duplicate parameters',
    run: (h) =>
      raw(h, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=authorization_code&client_id=pre-public&client_id=codes-only&code=x',
      }),
    status: 400,
    error: 'invalid_request',
  },
  {
    id: 'TK-12',
    name: '1 MB body',
    run: (h) =>
      raw(h, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=authorization_code&pad=${'x'.repeat(1024 * 1024)}`,
      }),
    status: 413,
    error: 'request_body_too_large',
  },
  {
    id: 'grant',
    name: 'client not registered for refresh_token',
    run: async (h) =>
      h.token({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'codes-only' }),
    status: 400,
    error: 'unauthorized_client',
  },
  {
    id: 'grant',
    name: 'client_credentials for a public client',
    run: async (h) =>
      h.token({ grant_type: 'client_credentials', resource: h.resource, client_id: 'pre-public' }),
    status: 400,
    error: 'unauthorized_client',
  },
  {
    id: 'grant',
    name: 'client_credentials without a resource',
    run: async (h) =>
      h.token({ grant_type: 'client_credentials' }, ['machine', CONFIDENTIAL_SECRET]),
    status: 400,
    error: 'invalid_target',
  },
  {
    id: 'TK-13',
    name: 'client_credentials with a scope beyond the client',
    run: async (h) =>
      h.token(
        { grant_type: 'client_credentials', resource: h.resource, scope: 'files:read admin' },
        ['machine', CONFIDENTIAL_SECRET],
      ),
    status: 400,
    error: 'invalid_scope',
  },
  {
    id: 'code',
    name: 'unknown code',
    run: async (h) => exchange(h, { code: 'A'.repeat(43), pkce: newPkce(), redirectUri: LOOPBACK }),
    status: 400,
    error: 'invalid_grant',
  },
  {
    id: 'positive',
    name: 'valid exchange (positive control)',
    run: async (h) => exchange(h, await freshCode(h)),
    status: 200,
  },
  {
    id: 'positive',
    name: 'client_credentials with Basic (positive control)',
    run: async (h) =>
      h.token({ grant_type: 'client_credentials', resource: h.resource, scope: 'files:read' }, [
        'machine',
        CONFIDENTIAL_SECRET,
      ]),
    status: 200,
  },
];

describe('TK: token endpoint negative table', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  for (const testCase of CASES) {
    it(`${testCase.id} ${testCase.name}`, async () => {
      const result = await testCase.run(h);
      assert.equal(result.status, testCase.status, JSON.stringify(result.body));
      assert.equal(result.headers.get('cache-control'), 'no-store', 'TK-11');
      if (testCase.error !== undefined) {
        assert.equal(result.body.error, testCase.error);
        assert.equal(result.body.access_token, undefined);
        assert.doesNotMatch(String(result.body.error_description), /["\\]/);
        if (testCase.status === 401) {
          assert.match(result.headers.get('www-authenticate') ?? '', /^Basic realm=/);
        }
      } else {
        assert.equal(typeof result.body.access_token, 'string');
        assert.equal(result.body.token_type, 'Bearer');
      }
    });
  }
});

for (const backend of ['memory', 'sqlite'] as const) {
  describe(`TK: code redemption (${backend} store)`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ store: backend });
    });
    after(async () => {
      await h.close();
    });

    it('TK-02 20 concurrent redemptions of one code: exactly one 200', async () => {
      const issued = await freshCode(h);
      const results = await Promise.all(Array.from({ length: 20 }, () => exchange(h, issued)));
      const ok = results.filter((result) => result.status === 200);
      assert.equal(ok.length, 1);
      for (const result of results.filter((r) => r.status !== 200)) {
        assert.equal(result.status, 400);
        assert.equal(result.body.error, 'invalid_grant');
      }
      // The losers count as replays: the winner's tokens are revoked too.
      const token = String(ok[0]?.body.access_token);
      const { payload } = await jwtVerify(token, createLocalJWKSet(await h.as.publicKeySet()), {
        currentDate: new Date(h.clock.now),
      });
      assert.equal(await h.as.isAccessTokenRevoked(String(payload.jti)), true);
    });

    it('TK-01 a replayed code is refused and the tokens issued from it are revoked', async () => {
      const issued = await freshCode(h);
      const first = await exchange(h, issued);
      assert.equal(first.status, 200);
      const { access_token: token, refresh_token: refresh } = first.body as {
        access_token: string;
        refresh_token: string;
      };
      const { payload } = await jwtVerify(token, createLocalJWKSet(await h.as.publicKeySet()), {
        currentDate: new Date(h.clock.now),
      });
      assert.equal(await h.as.isAccessTokenRevoked(String(payload.jti)), false);

      h.clock.advance(1000);
      const second = await exchange(h, issued);
      assert.equal(second.status, 400);
      assert.equal(second.body.error, 'invalid_grant');
      assert.equal(
        await h.as.isAccessTokenRevoked(String(payload.jti)),
        true,
        'access token revoked',
      );
      const refreshed = await h.token({
        grant_type: 'refresh_token',
        refresh_token: refresh,
        client_id: 'pre-public',
      });
      assert.equal(refreshed.status, 400, 'refresh token revoked');
      assert.equal(refreshed.body.error, 'invalid_grant');
      const replay = h.eventsNamed('oauth.code.replayed');
      assert.equal(replay.length >= 1, true);
      assert.equal(replay.at(-1)?.decision, 'deny');
    });
  });
}

describe('TK: issued tokens', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  it('TK-14 access token: at+jwt, ES256, iss, aud = resource, 900 s, jti, client_id, scope, sub', async () => {
    const issued = await freshCode(h, 'pre-public', 'files:read');
    const result = await exchange(h, issued);
    const body = result.body as { access_token: string; expires_in: number; scope: string };
    assert.equal(body.expires_in, 900);
    assert.equal(body.scope, 'files:read');
    const header = decodeProtectedHeader(body.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    const { payload } = await jwtVerify(
      body.access_token,
      createLocalJWKSet(await h.as.publicKeySet()),
      {
        issuer: h.issuer,
        audience: h.resource,
        typ: 'at+jwt',
        currentDate: new Date(h.clock.now),
      },
    );
    assert.equal(payload.aud, h.resource);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.client_id, 'pre-public');
    assert.equal(payload.scope, 'files:read');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 900);
    assert.match(String(payload.jti), /^[A-Za-z0-9_-]{22}$/);
    assert.match(result.headers.get('cache-control') ?? '', /no-store/);
  });

  it('TK-08 without resource at the token endpoint the token is for the authorized resource', async () => {
    const result = await exchange(h, await freshCode(h), { resource: undefined });
    assert.equal(result.status, 200);
    const { payload } = await jwtVerify(
      String(result.body.access_token),
      createLocalJWKSet(await h.as.publicKeySet()),
      { currentDate: new Date(h.clock.now) },
    );
    assert.equal(payload.aud, h.resource);
  });

  it('refresh tokens are 256-bit and only issued to clients with the refresh_token grant', async () => {
    const withRefresh = await exchange(h, await freshCode(h));
    assert.match(String(withRefresh.body.refresh_token), /^[A-Za-z0-9_-]{43}$/);
    const issued = await freshCode(h, 'codes-only');
    const without = await exchange(h, issued, { client_id: 'codes-only' });
    assert.equal(without.status, 200);
    assert.equal(without.body.refresh_token, undefined);
  });

  it('jti values are unique', async () => {
    const jtis = new Set<string>();
    for (let index = 0; index < 5; index++) {
      const result = await exchange(h, await freshCode(h));
      const { payload } = await jwtVerify(
        String(result.body.access_token),
        createLocalJWKSet(await h.as.publicKeySet()),
        { currentDate: new Date(h.clock.now) },
      );
      jtis.add(String(payload.jti));
    }
    assert.equal(jtis.size, 5);
  });

  it('client_credentials: subject is the client, no refresh token, CORS for browser clients', async () => {
    const result = await h.token({ grant_type: 'client_credentials', resource: h.resource }, [
      'machine',
      CONFIDENTIAL_SECRET,
    ]);
    assert.equal(result.status, 200);
    assert.equal(result.body.refresh_token, undefined);
    assert.equal(result.body.scope, 'files:read');
    assert.equal(result.headers.get('access-control-allow-origin'), '*');
    const { payload } = await jwtVerify(
      String(result.body.access_token),
      createLocalJWKSet(await h.as.publicKeySet()),
      { currentDate: new Date(h.clock.now) },
    );
    assert.equal(payload.sub, 'machine');
  });

  it('TK-06 no code is ever issued without a PKCE challenge, so no downgrade is possible', async () => {
    const response = await fetch(
      `${h.url}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: 'pre-public',
        redirect_uri: LOOPBACK,
        resource: h.resource,
      }).toString()}`,
      { redirect: 'manual' },
    );
    const target = new URL(response.headers.get('location') ?? '');
    assert.equal(target.searchParams.get('error'), 'invalid_request');
    assert.equal(target.searchParams.get('code'), null);
  });
});
