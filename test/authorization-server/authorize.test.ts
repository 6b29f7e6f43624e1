/**
 * AZ-: the authorization endpoint (cases in docs/security-cases.md). Each case asserts the status
 * and the error code, and whether the answer is a page (never a redirect) or a redirect back to the
 * registered URI with `state` and `iss`. The table ends with a positive control.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setUserPassword } from '../../src/authorization-server/index.ts';
import { createHarness, type Harness, newPkce, PASSWORD, register } from './harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

type Expect =
  | { readonly page: number; readonly error: string }
  | { readonly redirect: string; readonly error: string; readonly state?: string | null }
  | { readonly proceeds: true };

interface Case {
  readonly id: string;
  readonly name: string;
  /** Edits the default (valid) query; `undefined` deletes a parameter. */
  readonly params?: Record<string, string | undefined>;
  /** Raw query string, for repeated parameters. */
  readonly raw?: (valid: URLSearchParams) => string;
  readonly expect: Expect;
}

const REGISTERED_HTTPS = 'https://app.example/cb';
const LOOPBACK = 'http://127.0.0.1:5555/cb';

function validQuery(): URLSearchParams {
  const pkce = newPkce();
  return new URLSearchParams({
    response_type: 'code',
    client_id: 'pre-public',
    redirect_uri: REGISTERED_HTTPS,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    resource: h.resource,
    scope: 'files:read',
    state: 'xyz',
  });
}

const page = (error: string, status = 400): Expect => ({ page: status, error });
const back = (error: string, state: string | null = 'xyz'): Expect => ({
  redirect: REGISTERED_HTTPS,
  error,
  state,
});

const redirectVariants = [
  'https://app.example/cb/',
  'https://app.example/CB',
  'https://app.example/cb?x=1',
  'https://app.example/cb#f',
  'https://app.example:443/cb',
  'http://app.example/cb',
  'https://app.example.evil.com/cb',
  'https://app.example@evil.com/cb',
  'https://evil.com\\@app.example/cb',
  'https://app.example%2F@evil.com/cb',
  'https://app.example/cb/..;/x',
  'https://app.example/cb/%2e%2e/x',
  'https://app.example/cb/%252e%252e/x',
  'https://a@b@app.example/cb',
  'https://APP.EXAMPLE/cb',
];

const CASES: readonly Case[] = [
  {
    id: 'AZ-01',
    name: 'unknown client_id',
    params: { client_id: 'nobody' },
    expect: page('invalid_client'),
  },
  {
    id: 'AZ-01',
    name: 'missing client_id',
    params: { client_id: undefined },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-01',
    name: 'unregistered redirect_uri',
    params: { redirect_uri: 'https://evil.example/cb' },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-01',
    name: 'missing redirect_uri',
    params: { redirect_uri: undefined },
    expect: page('invalid_request'),
  },
  ...redirectVariants.map(
    (uri): Case => ({
      id: 'AZ-02',
      name: `redirect_uri variant ${uri}`,
      params: { redirect_uri: uri },
      expect: page('invalid_request'),
    }),
  ),
  {
    id: 'AZ-03',
    name: 'loopback: another path',
    params: { redirect_uri: 'http://127.0.0.1:5555/other' },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-03',
    name: 'loopback: look-alike host 127.0.0.1.evil.com',
    params: { redirect_uri: 'http://127.0.0.1.evil.com:5555/cb' },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-03',
    name: 'loopback: localhost.evil.com',
    params: { redirect_uri: 'http://localhost.evil.com/cb' },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-03',
    name: 'loopback: another loopback host than registered (localhost)',
    params: { redirect_uri: 'http://localhost:5555/cb' },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-03',
    name: 'loopback: [::1] not registered',
    params: { redirect_uri: 'http://[::1]:5555/cb' },
    expect: page('invalid_request'),
  },
  {
    id: 'AZ-03',
    name: 'loopback: https instead of http',
    params: { redirect_uri: 'https://127.0.0.1:5555/cb' },
    expect: page('invalid_request'),
  },
  ...[
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    ' https://app.example/cb',
    '\thttps://app.example/cb',
    '\u0000https://app.example/cb',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
  ].map(
    (uri): Case => ({
      id: 'AZ-04',
      name: `dangerous redirect_uri ${JSON.stringify(uri)}`,
      params: { redirect_uri: uri },
      expect: page('invalid_request'),
    }),
  ),
  {
    id: 'AZ-05',
    name: 'response_type=token',
    params: { response_type: 'token' },
    expect: back('unsupported_response_type'),
  },
  {
    id: 'AZ-05',
    name: 'response_type=id_token',
    params: { response_type: 'id_token' },
    expect: back('unsupported_response_type'),
  },
  {
    id: 'AZ-05',
    name: 'response_type=code token',
    params: { response_type: 'code token' },
    expect: back('unsupported_response_type'),
  },
  {
    id: 'AZ-05',
    name: 'response_type missing',
    params: { response_type: undefined },
    expect: back('invalid_request'),
  },
  {
    id: 'AZ-06',
    name: 'no code_challenge',
    params: { code_challenge: undefined },
    expect: back('invalid_request'),
  },
  {
    id: 'AZ-06',
    name: 'code_challenge_method=plain',
    params: { code_challenge_method: 'plain' },
    expect: back('invalid_request'),
  },
  {
    id: 'AZ-06',
    name: 'code_challenge_method omitted',
    params: { code_challenge_method: undefined },
    expect: back('invalid_request'),
  },
  {
    id: 'AZ-06',
    name: 'challenge of 42 characters',
    params: { code_challenge: 'a'.repeat(42) },
    expect: back('invalid_request'),
  },
  {
    id: 'AZ-06',
    name: 'challenge of 129 characters',
    params: { code_challenge: 'a'.repeat(129) },
    expect: back('invalid_request'),
  },
  {
    id: 'AZ-06',
    name: 'challenge with bad characters',
    params: { code_challenge: `${'a'.repeat(42)}=` },
    expect: back('invalid_request'),
  },
  ...['client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'resource'].map(
    (name): Case => ({
      id: 'AZ-07',
      name: `duplicate ${name}`,
      raw: (valid) => `${valid.toString()}&${name}=${encodeURIComponent(valid.get(name) ?? 'x')}`,
      expect: page('invalid_request'),
    }),
  ),
  {
    id: 'AZ-08',
    name: 'resource missing',
    params: { resource: undefined },
    expect: back('invalid_target'),
  },
  {
    id: 'AZ-08',
    name: 'resource with a fragment',
    params: { resource: 'RESOURCE#frag' },
    expect: back('invalid_target'),
  },
  {
    id: 'AZ-08',
    name: 'resource relative',
    params: { resource: '/mcp' },
    expect: back('invalid_target'),
  },
  {
    id: 'AZ-08',
    name: 'resource unknown',
    params: { resource: 'https://evil.example/mcp' },
    expect: back('invalid_target'),
  },
  {
    id: 'AZ-08',
    name: 'resource with a trailing slash',
    params: { resource: 'RESOURCE/' },
    expect: back('invalid_target'),
  },
  {
    id: 'AZ-08',
    name: 'resource of the gateway origin only',
    params: { resource: 'ORIGIN' },
    expect: back('invalid_target'),
  },
  {
    id: 'scope',
    name: 'scope not allowed for the client',
    params: { scope: 'admin' },
    expect: back('invalid_scope'),
  },
  {
    id: 'scope',
    name: 'unknown scope',
    params: { scope: 'files:delete' },
    expect: back('invalid_scope'),
  },
  {
    id: 'scope',
    name: 'scope with a double space',
    params: { scope: 'files:read  files:write' },
    expect: back('invalid_scope'),
  },
  {
    id: 'state',
    name: 'state with non-ASCII characters (not echoed)',
    params: { state: 'caf\u00e9' },
    expect: back('invalid_request', null),
  },
  {
    id: 'state',
    name: 'state longer than 4096',
    params: { state: 'x'.repeat(4097) },
    expect: back('invalid_request', null),
  },
  {
    id: 'client',
    name: 'client not allowed the authorization_code grant',
    params: { client_id: 'machine', redirect_uri: 'https://machine.example/cb' },
    expect: page('unauthorized_client'),
  },
  { id: 'positive', name: 'valid request (positive control)', expect: { proceeds: true } },
  {
    id: 'positive',
    name: 'loopback redirect on any port (positive control, RFC 8252 §7.3)',
    params: { redirect_uri: LOOPBACK },
    expect: { proceeds: true },
  },
];

function substitute(value: string): string {
  return value.replace('RESOURCE', h.resource).replace('ORIGIN', h.url);
}

describe('AZ: authorization endpoint negative table', () => {
  for (const testCase of CASES) {
    it(`${testCase.id} ${testCase.name}`, async () => {
      const query = validQuery();
      for (const [name, value] of Object.entries(testCase.params ?? {})) {
        if (value === undefined) query.delete(name);
        else query.set(name, substitute(value));
      }
      const search = testCase.raw ? testCase.raw(query) : query.toString();
      const response = await fetch(`${h.url}/oauth/authorize?${search}`, { redirect: 'manual' });
      const body = await response.text();
      const location = response.headers.get('location');
      const expect = testCase.expect;
      if ('page' in expect) {
        assert.equal(response.status, expect.page, body);
        assert.equal(location, null, 'an error page, never a redirect');
        assert.match(body, new RegExp(`Error: <code>${expect.error}</code>`));
        assert.equal(response.headers.get('x-frame-options'), 'DENY');
      } else if ('redirect' in expect) {
        assert.equal(response.status, 303, body);
        const target = new URL(location ?? '');
        assert.equal(`${target.origin}${target.pathname}`, expect.redirect);
        assert.equal(target.searchParams.get('error'), expect.error);
        assert.equal(target.searchParams.get('iss'), h.issuer, 'RFC 9207 iss on errors too');
        assert.equal(target.searchParams.get('state'), expect.state ?? null);
        assert.equal(target.searchParams.get('code'), null);
      } else {
        assert.equal(response.status, 303, body);
        assert.match(location ?? '', /^\/oauth\/login\?interaction=[A-Za-z0-9_-]{32}$/);
      }
    });
  }
});

describe('AZ: authorization endpoint behaviour', () => {
  it('AZ-09 a successful response carries code, state and iss; metadata advertises iss', async () => {
    const pkce = newPkce();
    const landed = await h.authorize({ pkce, redirectUri: LOOPBACK, scope: 'files:read' });
    assert.equal(`${landed.origin}${landed.pathname}`, LOOPBACK);
    assert.equal(landed.searchParams.get('state'), 'state-123');
    assert.equal(landed.searchParams.get('iss'), h.issuer);
    assert.match(
      landed.searchParams.get('code') ?? '',
      /^[A-Za-z0-9_-]{43}$/,
      'AZ-16: 256-bit code',
    );
    const metadata = (await (
      await fetch(`${h.url}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
  });

  it('AZ-15 a 4 KB state with URL-special characters comes back byte for byte', async () => {
    const special = '&=?#/%+ "\'<>;:@!$()*,[]{}|^`~';
    const state = `${special}abcdefghij`.repeat(200).slice(0, 4096);
    const landed = await h.authorize({ state, redirectUri: LOOPBACK });
    assert.equal(landed.searchParams.get('state'), state);
  });

  it('AZ-05 the user can deny: access_denied goes back with state and iss', async () => {
    await setUserPassword(h.store, 'bob', PASSWORD, h.clock.now);
    const landed = await h.authorize({ redirectUri: LOOPBACK, decision: 'deny', username: 'bob' });
    assert.equal(landed.searchParams.get('error'), 'access_denied');
    assert.equal(landed.searchParams.get('state'), 'state-123');
    assert.equal(landed.searchParams.get('iss'), h.issuer);
    assert.equal(h.eventsNamed('oauth.authorization.denied').at(-1)?.reason, 'OAuthAccessDenied');
  });

  it('AZ-10 a dynamically registered client gets its error only after the user signs in', async () => {
    const registered = await register(h, {
      client_name: 'Dynamic',
      redirect_uris: ['https://dyn.example/cb'],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(registered.status, 201);
    const clientId = String(registered.body.client_id);
    const browser = h.browser();
    const pkce = newPkce();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: 'https://dyn.example/cb',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      resource: 'https://evil.example/mcp',
      state: 's1',
    });
    const first = await browser.get(`/oauth/authorize?${query.toString()}`);
    assert.equal(first.status, 303);
    assert.match(
      first.headers.get('location') ?? '',
      /^\/oauth\/login\?/,
      'not sent to the client yet',
    );
    const landed = await browser.completeFlow(first, 'alice', PASSWORD, 'allow');
    assert.equal(`${landed.origin}${landed.pathname}`, 'https://dyn.example/cb');
    assert.equal(landed.searchParams.get('error'), 'invalid_target');
    assert.equal(landed.searchParams.get('state'), 's1');
    assert.equal(landed.searchParams.get('iss'), h.issuer);
  });

  it('AZ-10 the same error for a signed-in user goes back at once', async () => {
    const browser = h.browser();
    await h.authorize({ browser, redirectUri: LOOPBACK });
    const registered = await register(h, {
      redirect_uris: ['https://dyn2.example/cb'],
      token_endpoint_auth_method: 'none',
    });
    const pkce = newPkce();
    const response = await browser.get(
      `/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: String(registered.body.client_id),
        redirect_uri: 'https://dyn2.example/cb',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
        resource: h.resource,
        scope: 'nope',
      }).toString()}`,
    );
    const target = new URL(response.headers.get('location') ?? '');
    assert.equal(target.origin, 'https://dyn2.example');
    assert.equal(target.searchParams.get('error'), 'invalid_scope');
  });

  it('AZ-13 no CORS at the authorization endpoint', async () => {
    const response = await fetch(`${h.url}/oauth/authorize`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('access-control-allow-origin'), null);
  });

  it('POST to the authorization endpoint is not offered', async () => {
    const response = await fetch(`${h.url}/oauth/authorize`, { method: 'POST' });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET');
  });

  it('a signed-in user with remembered consent goes straight back to the client', async () => {
    const browser = h.browser();
    await h.authorize({ browser, redirectUri: LOOPBACK, scope: 'files:read' });
    const pkce = newPkce();
    const again = await browser.get(
      `/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: 'pre-public',
        redirect_uri: LOOPBACK,
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
        resource: h.resource,
        scope: 'files:read',
      }).toString()}`,
    );
    assert.match(again.headers.get('location') ?? '', /^\/oauth\/consent\?/);
    const consent = await browser.get(again.headers.get('location') ?? '');
    assert.equal(consent.status, 303, 'remembered: no page');
    assert.ok(new URL(consent.headers.get('location') ?? '').searchParams.get('code'));
  });
});
