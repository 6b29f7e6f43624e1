/**
 * RG-: dynamic client registration (RFC 7591), cases in docs/security-cases.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHarness, type Harness, INITIAL_ACCESS_TOKEN, register } from './harness.ts';

const VALID = {
  client_name: 'Example MCP client',
  redirect_uris: ['http://127.0.0.1:33418/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

interface Case {
  readonly id: string;
  readonly name: string;
  readonly body: Record<string, unknown>;
  readonly status: number;
  readonly error?: string;
}

const withUris = (uris: unknown): Record<string, unknown> => ({ ...VALID, redirect_uris: uris });

const CASES: readonly Case[] = [
  ...[
    ['plain http to a public host', ['http://app.example/cb']],
    ['a fragment', ['https://app.example/cb#x']],
    ['a wildcard', ['https://*.example/cb']],
    ['a relative URI', ['/cb']],
    ['javascript:', ['javascript:alert(1)']],
    ['data:', ['data:text/html,x']],
    ['a custom scheme', ['com.example.app:/cb']],
    ['userinfo', ['https://user@app.example/cb']],
    ['a non-normalized host', ['https://APP.example/cb']],
    ['a leading space', [' https://app.example/cb']],
    ['more than ten', Array.from({ length: 11 }, (_, i) => `https://app.example/cb${i}`)],
    ['an 8 KB URI', [`https://app.example/${'a'.repeat(8192)}`]],
    ['an empty list', []],
  ].map(
    ([name, uris]): Case => ({
      id: 'RG-01',
      name: `redirect_uris with ${String(name)}`,
      body: withUris(uris),
      status: 400,
      error: 'invalid_redirect_uri',
    }),
  ),
  {
    id: 'RG-01',
    name: 'redirect_uris missing',
    body: { ...VALID, redirect_uris: undefined },
    status: 400,
    error: 'invalid_redirect_uri',
  },
  {
    id: 'RG-01',
    name: 'redirect_uris not an array',
    body: withUris('https://app.example/cb'),
    status: 400,
    error: 'invalid_client_metadata',
  },
  ...[
    ['grant type client_credentials', { grant_types: ['client_credentials'] }],
    ['grant type implicit', { grant_types: ['authorization_code', 'implicit'] }],
    ['grant type password', { grant_types: ['password'] }],
    ['only refresh_token', { grant_types: ['refresh_token'] }],
    ['response type token', { response_types: ['token'] }],
    ['auth method private_key_jwt', { token_endpoint_auth_method: 'private_key_jwt' }],
    ['auth method client_secret_jwt', { token_endpoint_auth_method: 'client_secret_jwt' }],
    ['unknown scope', { scope: 'files:read files:delete' }],
    ['application_type desktop', { application_type: 'desktop' }],
  ].map(
    ([name, change]): Case => ({
      id: 'RG-02',
      name: String(name),
      body: { ...VALID, ...(change as Record<string, unknown>) },
      status: 400,
      error: 'invalid_client_metadata',
    }),
  ),
  ...[
    ['client_uri on http', { client_uri: 'http://app.example/' }],
    ['logo_uri on http', { logo_uri: 'http://app.example/logo.png' }],
    ['tos_uri not a URL', { tos_uri: 'terms' }],
    ['client_name of 101 characters', { client_name: 'x'.repeat(101) }],
    ['client_name with a control character', { client_name: 'a\u0007b' }],
    ['client_name not a string', { client_name: 7 }],
  ].map(
    ([name, change]): Case => ({
      id: 'RG-03',
      name: String(name),
      body: { ...VALID, ...(change as Record<string, unknown>) },
      status: 400,
      error: 'invalid_client_metadata',
    }),
  ),
  {
    id: 'RG-04',
    name: 'jwks_uri on plain http at an internal address',
    body: { ...VALID, jwks_uri: 'http://169.254.169.254/latest/meta-data/' },
    status: 400,
    error: 'invalid_client_metadata',
  },
  {
    id: 'RG-08',
    name: 'software statement',
    body: { ...VALID, software_statement: 'eyJhbGciOiJub25lIn0.eyJ9.' },
    status: 400,
    error: 'invalid_client_metadata',
  },
  {
    id: 'RG-03',
    name: 'HTML in client_name is accepted (escaped where shown; see pages.test.ts)',
    body: { ...VALID, client_name: '<img src=x onerror=alert(1)>' },
    status: 201,
  },
  { id: 'positive', name: 'valid public client (positive control)', body: VALID, status: 201 },
];

describe('RG: dynamic registration negative table', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  // Each case starts a new rate-limit window: the limit itself is tested separately (RG-05).
  const nextWindow = () => h.clock.advance(3600_000);

  for (const testCase of CASES) {
    it(`${testCase.id} ${testCase.name}`, async () => {
      nextWindow();
      const result = await register(h, testCase.body);
      assert.equal(result.status, testCase.status, JSON.stringify(result.body));
      assert.equal(result.headers.get('cache-control'), 'no-store');
      if (testCase.error !== undefined) {
        assert.equal(result.body.error, testCase.error);
        assert.equal(result.body.client_id, undefined);
      }
    });
  }

  const rawCases: { id: string; name: string; init: RequestInit; status: number; error: string }[] =
    [
      {
        id: 'RG-07',
        name: '1 MB body',
        init: {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...VALID, pad: 'x'.repeat(1024 * 1024) }),
        },
        status: 413,
        error: 'request_body_too_large',
      },
      {
        id: 'RG-07',
        name: 'nesting 100 deep',
        init: {
          headers: { 'content-type': 'application/json' },
          body: `{"redirect_uris":["https://a.example/cb"],"x":${'['.repeat(100)}${']'.repeat(100)}}`,
        },
        status: 400,
        error: 'invalid_client_metadata',
      },
      {
        id: 'RG-07',
        name: 'duplicate member names',
        init: {
          headers: { 'content-type': 'application/json' },
          body: '{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","token_endpoint_auth_method":"client_secret_post"}',
        },
        status: 400,
        error: 'invalid_client_metadata',
      },
      {
        id: 'RG-07',
        name: 'not JSON',
        init: { headers: { 'content-type': 'application/json' }, body: '{redirect_uris:' },
        status: 400,
        error: 'invalid_client_metadata',
      },
      {
        id: 'RG-07',
        name: 'a JSON array',
        init: { headers: { 'content-type': 'application/json' }, body: '[]' },
        status: 400,
        error: 'invalid_client_metadata',
      },
      {
        id: 'RG-07',
        name: 'a form body',
        init: {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'redirect_uris=https://a.example/cb',
        },
        status: 400,
        error: 'invalid_client_metadata',
      },
    ];
  for (const testCase of rawCases) {
    it(`${testCase.id} ${testCase.name}`, async () => {
      nextWindow();
      const response = await fetch(`${h.url}/oauth/register`, { method: 'POST', ...testCase.init });
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, testCase.status);
      assert.equal(body.error, testCase.error);
    });
  }

  it('RG-06 a public client: 201, an id that is never a URL, no secret, metadata echoed', async () => {
    nextWindow();
    const result = await register(h, { ...VALID, scope: 'files:read' });
    assert.equal(result.status, 201);
    assert.match(String(result.body.client_id), /^dyn_[A-Za-z0-9_-]{22}$/);
    assert.doesNotMatch(String(result.body.client_id), /^https?:/);
    assert.equal(result.body.client_secret, undefined);
    assert.deepEqual(result.body.redirect_uris, VALID.redirect_uris);
    assert.equal(result.body.token_endpoint_auth_method, 'none');
    assert.equal(result.body.scope, 'files:read');
    assert.equal(typeof result.body.client_id_issued_at, 'number');
    assert.equal(result.headers.get('access-control-allow-origin'), '*');
  });

  it('a confidential client gets a secret, which then authenticates it (and nothing else does)', async () => {
    nextWindow();
    const result = await register(h, {
      ...VALID,
      token_endpoint_auth_method: 'client_secret_post',
    });
    assert.equal(result.status, 201);
    assert.match(String(result.body.client_secret), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(result.body.client_secret_expires_at, 0);
    const id = String(result.body.client_id);
    const secret = String(result.body.client_secret);
    const good = await h.post('/oauth/revoke', {
      token: 'x',
      client_id: id,
      client_secret: secret,
    });
    assert.equal(good.status, 200);
    const basic = await h.post('/oauth/revoke', { token: 'x' }, { basic: [id, secret] });
    assert.equal(basic.status, 401, 'registered for client_secret_post, not basic');
    const wrong = await h.post('/oauth/revoke', { token: 'x', client_id: id, client_secret: 'no' });
    assert.equal(wrong.status, 401);
  });

  it('RFC 7591 default auth method is client_secret_basic', async () => {
    nextWindow();
    const result = await register(h, { redirect_uris: ['https://app.example/cb'] });
    assert.equal(result.status, 201);
    assert.equal(result.body.token_endpoint_auth_method, 'client_secret_basic');
    assert.equal(typeof result.body.client_secret, 'string');
    assert.deepEqual(result.body.grant_types, ['authorization_code']);
  });

  it('a client registered but never used within a day is removed', async () => {
    nextWindow();
    const result = await register(h, VALID);
    const id = String(result.body.client_id);
    assert.ok(await h.store.getClient(id));
    h.clock.advance(86_400_001);
    await register(h, VALID);
    assert.equal(await h.store.getClient(id), undefined);
  });
});

describe('RG-05 registration rate limit per address', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  it('the 21st registration from one address within the hour is refused with 429', async () => {
    for (let index = 0; index < 20; index++) {
      assert.equal((await register(h, VALID)).status, 201, `registration ${index}`);
    }
    const refused = await register(h, VALID);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error, 'rate_limited');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    h.clock.advance(3600_000);
    assert.equal((await register(h, VALID)).status, 201, 'positive control: next window');
  });
});

describe('registration modes', () => {
  let tokenMode: Harness;
  let offMode: Harness;
  before(async () => {
    tokenMode = await createHarness({
      edit: (document) => {
        document.authorization_server.dynamic_registration = 'token';
        document.authorization_server.initial_access_token_env = 'INITIAL_ACCESS_TOKEN';
      },
    });
    offMode = await createHarness({
      edit: (document) => {
        document.authorization_server.dynamic_registration = 'off';
      },
    });
  });
  after(async () => {
    await tokenMode.close();
    await offMode.close();
  });

  it('token: no initial access token → 401 with a Bearer challenge', async () => {
    const result = await register(tokenMode, VALID);
    assert.equal(result.status, 401);
    assert.match(result.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
  });

  it('token: a wrong initial access token → 401 invalid_token', async () => {
    const result = await register(tokenMode, VALID, { authorization: 'Bearer wrong-token' });
    assert.equal(result.status, 401);
    assert.equal(result.body.error, 'invalid_token');
    assert.match(result.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('token: the right initial access token registers (positive control)', async () => {
    const result = await register(tokenMode, VALID, {
      authorization: `Bearer ${INITIAL_ACCESS_TOKEN}`,
    });
    assert.equal(result.status, 201);
  });

  it('off: no endpoint and none advertised', async () => {
    const result = await register(offMode, VALID);
    assert.equal(result.status, 404);
    const metadata = (await (
      await fetch(`${offMode.url}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    assert.equal(metadata.registration_endpoint, undefined);
  });
});
