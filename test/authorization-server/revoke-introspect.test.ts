/**
 * RV- (RFC 7009 revocation) and IX- (RFC 7662 introspection) cases of docs/security-cases.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  CONFIDENTIAL_SECRET,
  createHarness,
  type Harness,
  newPkce,
  register,
  type TokenBody,
} from './harness.ts';
import { type ProtectedEndpoint, protectedEndpoint } from './protected-endpoint.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

const RS: [string, string] = ['pre-confidential', CONFIDENTIAL_SECRET];

async function jtiOf(accessToken: string): Promise<string> {
  const { payload } = await jwtVerify(accessToken, createLocalJWKSet(await h.as.publicKeySet()), {
    currentDate: new Date(h.clock.now),
  });
  return String(payload.jti);
}

function introspect(token: string, basic: [string, string] = RS) {
  return h.post('/oauth/introspect', { token }, { basic });
}

function revoke(fields: Record<string, string | undefined>, basic?: [string, string]) {
  return h.post('/oauth/revoke', fields, basic ? { basic } : {});
}

describe('RV: revocation', () => {
  it('RV-01 revoking a refresh token revokes its family: the refresh token and the access tokens', async () => {
    const tokens = await h.obtainTokens();
    const result = await revoke({ token: tokens.refresh_token, client_id: 'pre-public' });
    assert.equal(result.status, 200);
    assert.equal(result.text, '');
    assert.equal(result.headers.get('cache-control'), 'no-store');
    assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(tokens.access_token)), true);
    assert.deepEqual((await introspect(tokens.access_token)).body, { active: false });
    assert.deepEqual((await introspect(tokens.refresh_token ?? '')).body, { active: false });
    assert.equal(h.eventsNamed('oauth.token.revoked').at(-1)?.client_id, 'pre-public');
  });

  it('RV-01 revoking an access token stops its jti at once; the refresh token lives on', async () => {
    const tokens = await h.obtainTokens();
    const jti = await jtiOf(tokens.access_token);
    assert.equal(await h.as.isAccessTokenRevoked(jti), false);
    const result = await revoke({
      token: tokens.access_token,
      token_type_hint: 'access_token',
      client_id: 'pre-public',
    });
    assert.equal(result.status, 200);
    assert.equal(await h.as.isAccessTokenRevoked(jti), true);
    const refreshed = await h.token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: 'pre-public',
    });
    assert.equal(refreshed.status, 200);
  });

  const negatives: {
    id: string;
    name: string;
    run: () => Promise<{ status: number; body: Record<string, unknown> }>;
    status: number;
    error?: string;
  }[] = [
    {
      id: 'RV-02',
      name: 'garbage token: 200, no oracle',
      run: () => revoke({ token: 'garbage!', client_id: 'pre-public' }),
      status: 200,
    },
    {
      id: 'RV-02',
      name: 'unknown refresh-token-shaped token: 200',
      run: () => revoke({ token: 'A'.repeat(43), client_id: 'pre-public' }),
      status: 200,
    },
    {
      id: 'RV-02',
      name: 'a JWT signed by someone else: 200',
      run: () =>
        revoke({
          token: 'eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl',
          client_id: 'pre-public',
        }),
      status: 200,
    },
    {
      id: 'RV-04',
      name: 'confidential client without authentication',
      run: () => revoke({ token: 'x', client_id: 'pre-confidential' }),
      status: 401,
      error: 'invalid_client',
    },
    {
      id: 'RV-04',
      name: 'confidential client with a wrong secret',
      run: () => revoke({ token: 'x' }, ['pre-confidential', 'wrong']),
      status: 401,
      error: 'invalid_client',
    },
    {
      id: 'RV',
      name: 'unknown client',
      run: () => revoke({ token: 'x', client_id: 'nobody' }),
      status: 401,
      error: 'invalid_client',
    },
    {
      id: 'RV',
      name: 'token missing',
      run: () => revoke({ client_id: 'pre-public' }),
      status: 400,
      error: 'invalid_request',
    },
    {
      id: 'positive',
      name: 'own access token (positive control)',
      run: async () =>
        revoke({ token: (await h.obtainTokens()).access_token, client_id: 'pre-public' }),
      status: 200,
    },
  ];
  for (const testCase of negatives) {
    it(`${testCase.id} ${testCase.name}`, async () => {
      const result = await testCase.run();
      assert.equal(result.status, testCase.status, JSON.stringify(result.body));
      if (testCase.error) assert.equal(result.body.error, testCase.error);
    });
  }

  it("RV-03 another client's token is refused and stays valid", async () => {
    const tokens = await h.obtainTokens();
    const result = await revoke({ token: tokens.refresh_token }, RS);
    assert.equal(result.status, 400);
    assert.equal(result.body.error, 'unauthorized_client');
    assert.deepEqual((await introspect(tokens.refresh_token ?? '')).body.active, true);
    const access = await revoke({ token: tokens.access_token }, RS);
    assert.equal(access.status, 400);
    assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(tokens.access_token)), false);
  });

  it('RV-05 a revoked token with == appended to its signature is still inactive', async () => {
    const tokens = await h.obtainTokens();
    await revoke({ token: tokens.access_token, client_id: 'pre-public' });
    const padded = `${tokens.access_token}==`;
    assert.deepEqual((await introspect(padded)).body, { active: false });
    assert.deepEqual((await introspect(tokens.access_token)).body, { active: false });
    assert.equal(await h.as.isAccessTokenRevoked(await jtiOf(tokens.access_token)), true);
  });
});

describe('IX: introspection', () => {
  let dynamic: [string, string];
  let live: TokenBody;
  before(async () => {
    const registered = await register(h, {
      redirect_uris: ['https://rs.example/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    dynamic = [String(registered.body.client_id), String(registered.body.client_secret)];
    live = await h.obtainTokens();
  });

  it('IX-01 without caller authentication: 401', async () => {
    const result = await h.post('/oauth/introspect', {
      token: live.access_token,
      client_id: 'pre-public',
    });
    assert.equal(result.status, 401);
    assert.equal(result.body.error, 'invalid_client');
    assert.match(result.headers.get('www-authenticate') ?? '', /^Basic /);
    const none = await h.post('/oauth/introspect', { token: live.access_token });
    assert.equal(none.status, 401);
  });

  const inactive: {
    name: string;
    token: () => Promise<string>;
    caller?: () => [string, string];
  }[] = [
    { name: 'garbage', token: async () => 'not a token' },
    { name: 'empty-looking JWT', token: async () => 'a.b.c' },
    {
      name: 'expired access token',
      token: async () => {
        const tokens = await h.obtainTokens();
        h.clock.advance(901_000);
        return tokens.access_token;
      },
    },
    {
      name: 'consumed (rotated) refresh token',
      token: async () => {
        const tokens = await h.obtainTokens();
        await h.token({
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh_token,
          client_id: 'pre-public',
        });
        return tokens.refresh_token ?? '';
      },
    },
    {
      name: 'revoked access token',
      token: async () => {
        const tokens = await h.obtainTokens();
        await revoke({ token: tokens.access_token, client_id: 'pre-public' });
        return tokens.access_token;
      },
    },
    {
      name: 'authorization code',
      token: async () => {
        const landed = await h.authorize({ pkce: newPkce(), redirectUri: 'http://127.0.0.1:9/cb' });
        return landed.searchParams.get('code') ?? '';
      },
    },
    {
      name: "another client's token, asked by a dynamically registered client",
      token: async () => (await h.obtainTokens()).access_token,
      caller: () => dynamic,
    },
  ];
  for (const testCase of inactive) {
    it(`IX-02 ${testCase.name}: exactly {"active": false}`, async () => {
      const token = await testCase.token();
      const result = await introspect(token, testCase.caller?.() ?? RS);
      assert.equal(result.status, 200);
      assert.equal(result.text, '{"active":false}');
      assert.equal(result.headers.get('cache-control'), 'no-store', 'IX-03');
    });
  }

  it('positive control: an active access token, asked by a pre-registered resource server', async () => {
    const tokens = await h.obtainTokens();
    const result = await introspect(tokens.access_token);
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('cache-control'), 'no-store');
    assert.equal(result.body.active, true);
    assert.equal(result.body.client_id, 'pre-public');
    assert.equal(result.body.sub, 'alice');
    assert.equal(result.body.aud, h.resource);
    assert.equal(result.body.iss, h.issuer);
    assert.equal(result.body.token_type, 'Bearer');
    assert.equal(typeof result.body.exp, 'number');
    const refresh = await introspect(tokens.refresh_token ?? '');
    assert.equal(refresh.body.active, true);
    assert.equal(refresh.body.token_type, 'refresh_token');
  });
});

describe('revocation reaches the resource at once', () => {
  let r: Harness;
  let endpoint: ProtectedEndpoint;
  before(async () => {
    let harness: Harness | undefined;
    endpoint = protectedEndpoint({
      origin: () => harness?.url ?? '',
      as: () => {
        if (harness === undefined) throw new Error('not started');
        return harness.as;
      },
      now: () => harness?.clock.now ?? 0,
      scopes: ['files:read'],
    });
    harness = await createHarness({ extra: (request) => endpoint.handle(request) });
    r = harness;
  });
  after(async () => {
    await r.close();
  });

  it('a revoked access token is refused by the next request, long before it expires', async () => {
    const tokens = await r.obtainTokens();
    const call = () =>
      fetch(`${r.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    assert.equal((await call()).status, 200, 'positive control before revocation');
    const revoked = await r.post('/oauth/revoke', {
      token: tokens.access_token,
      client_id: 'pre-public',
    });
    assert.equal(revoked.status, 200);
    const after = await call();
    assert.equal(after.status, 401);
    assert.match(after.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });
});
