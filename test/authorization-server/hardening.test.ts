/**
 * Holes found by a hostile review, each a named negative test with its positive control:
 * cookie scope on loopback issuers, consent for public clients whose identity is not assured,
 * the sign-in throttle, pending authorization caps, client names with invisible characters,
 * and error redirects to redirect URIs nobody vouched for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import {
  createAuthorizationServer,
  setUserPassword,
} from '../../src/authorization-server/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { DocumentServer } from './document-server.ts';
import {
  authorizeQuery,
  baseDocument,
  createHarness,
  type Harness,
  hiddenFields,
  newPkce,
  PASSWORD,
  register,
} from './harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness({
    edit: (document) => {
      const as = document.authorization_server as { clients: Record<string, unknown>[] };
      as.clients.push(
        { client_id: 'pre-cookie-path', redirect_uris: ['http://127.0.0.1/oauth/cb'] },
        {
          client_id: 'device-cli',
          redirect_uris: ['http://127.0.0.1/cb'],
          grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
          scope: ['files:read'],
        },
      );
    },
  });
  for (const name of ['hank', 'ivy', 'jon', 'kim']) {
    await setUserPassword(h.store, name, PASSWORD, h.clock.now);
  }
});
after(async () => {
  await h.close();
});

/** The Set-Cookie of /oauth/authorize on a server whose public URL is `publicUrl`. */
async function browserCookieOn(publicUrl: string): Promise<string> {
  const document = baseDocument(8080);
  document.remote_mcp.public_url = publicUrl;
  const loaded = loadConfigText(stringify(document), {
    env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET: 'x'.repeat(32) },
  });
  const store = new MemoryStore();
  const server = await createAuthorizationServer(loaded, { store });
  try {
    const response = await server.handle(
      new Request(
        `${publicUrl}/oauth/authorize?${new URLSearchParams({
          response_type: 'code',
          client_id: 'pre-public',
          redirect_uri: 'http://127.0.0.1:4567/cb',
          code_challenge: newPkce().challenge,
          code_challenge_method: 'S256',
          resource: `${publicUrl}/mcp`,
        }).toString()}`,
      ),
    );
    return response?.headers.getSetCookie()[0] ?? '';
  } finally {
    await server.close();
    await store.close();
  }
}

describe('cookies never reach a loopback callback', () => {
  it('an https loopback issuer confines its Secure cookies to /oauth (__Secure-, not __Host-)', async () => {
    const cookie = await browserCookieOn('https://localhost:8443');
    assert.match(
      cookie,
      /^__Secure-portcullis-browser=[A-Za-z0-9_-]{43}; Path=\/oauth; HttpOnly; SameSite=Lax; Secure$/,
    );
  });

  it('positive control: a non-loopback https issuer keeps __Host- and Path=/', async () => {
    const cookie = await browserCookieOn('https://gw.example');
    assert.match(
      cookie,
      /^__Host-portcullis-browser=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
    );
  });

  it('a pre-registered loopback redirect URI under /oauth is refused at /oauth/authorize with a page', async () => {
    const query = authorizeQuery(h, {
      clientId: 'pre-cookie-path',
      redirectUri: 'http://127.0.0.1:5555/oauth/cb',
    });
    const response = await fetch(`${h.url}/oauth/authorize?${query.toString()}`, {
      redirect: 'manual',
    });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('location'), null, 'never redirected there');
    assert.equal(response.headers.getSetCookie().length, 0, 'no cookie either');
    assert.match(await response.text(), /must not be under \/oauth/);
  });

  it('positive control: a loopback redirect URI elsewhere registers and is accepted', async () => {
    const registered = await register(h, {
      redirect_uris: ['http://127.0.0.1:5555/callback'],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(registered.status, 201);
  });
});

/**
 * mcp-remote's default callback. Only a loopback issuer shares its cookie host with it (RFC 6265
 * §8.5), so only a loopback issuer refuses it; elsewhere it must register and authorize.
 */
const MCP_REMOTE_CALLBACK = 'http://127.0.0.1:33418/oauth/callback';

/**
 * An authorization server whose public URL is `publicUrl`, called through `handle` (its host
 * need not resolve), with a pre-registered client whose loopback redirect URI is under /oauth,
 * and client ID metadata documents readable from loopback.
 */
async function serverOn(publicUrl: string) {
  const document = baseDocument(8080);
  document.remote_mcp.public_url = publicUrl;
  document.development = { allow_loopback_urls: true };
  (document.authorization_server.clients as Record<string, unknown>[]).push({
    client_id: 'pre-oauth-callback',
    redirect_uris: ['http://127.0.0.1/oauth/callback'],
  });
  const loaded = loadConfigText(stringify(document), {
    env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET: 'x'.repeat(32) },
  });
  const store = new MemoryStore();
  const server = await createAuthorizationServer(loaded, { store });
  const call = async (request: Request): Promise<Response> => {
    const response = await server.handle(request);
    if (response === undefined) throw new Error(`no answer for ${request.url}`);
    return response;
  };
  return {
    store,
    register: (metadata: Record<string, unknown>) =>
      call(
        new Request(`${publicUrl}/oauth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(metadata),
        }),
      ),
    authorize: (clientId: string, redirectUri: string) =>
      call(
        new Request(
          `${publicUrl}/oauth/authorize?${new URLSearchParams({
            response_type: 'code',
            client_id: clientId,
            redirect_uri: redirectUri,
            code_challenge: newPkce().challenge,
            code_challenge_method: 'S256',
            resource: `${publicUrl}/mcp`,
            state: 'cb',
          }).toString()}`,
        ),
      ),
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

/** Went on to sign-in: the redirect URI was accepted. */
function assertToSignIn(response: Response, label: string): void {
  assert.equal(response.status, 303, label);
  assert.match(response.headers.get('location') ?? '', /^\/oauth\/login\?interaction=/, label);
}

/** A page naming the fix, never a redirect, no cookie. */
async function assertRefusedPage(response: Response, label: string): Promise<void> {
  assert.equal(response.status, 400, label);
  assert.equal(response.headers.get('location'), null, `${label}: never redirected there`);
  assert.equal(response.headers.getSetCookie().length, 0, `${label}: no cookie`);
  const page = await response.text();
  assert.match(page, /must not be under \/oauth/, label);
  assert.match(page, /--callback-path \/callback/, `${label}: names the fix`);
}

describe('a loopback callback under /oauth is refused only by a loopback issuer', () => {
  let docs: DocumentServer;
  before(async () => {
    docs = await new DocumentServer().start();
  });
  after(async () => {
    await docs.close();
  });

  type Surface = 'registration' | 'client metadata document' | '/oauth/authorize';
  const cases: { issuer: string; surface: Surface; accepted: boolean }[] = [
    // Positive: the cookie host is auth.example.com, never 127.0.0.1.
    { issuer: 'https://auth.example.com', surface: 'registration', accepted: true },
    { issuer: 'https://auth.example.com', surface: 'client metadata document', accepted: true },
    { issuer: 'https://auth.example.com', surface: '/oauth/authorize', accepted: true },
    // Negative: a loopback issuer's cookies (Path=/oauth) would reach the callback.
    { issuer: 'http://127.0.0.1:8080', surface: 'registration', accepted: false },
    { issuer: 'http://127.0.0.1:8080', surface: 'client metadata document', accepted: false },
    { issuer: 'http://127.0.0.1:8080', surface: '/oauth/authorize', accepted: false },
    { issuer: 'https://localhost:8443', surface: 'registration', accepted: false },
    { issuer: 'https://localhost:8443', surface: 'client metadata document', accepted: false },
    { issuer: 'https://localhost:8443', surface: '/oauth/authorize', accepted: false },
  ];
  for (const [index, { issuer, surface, accepted }] of cases.entries()) {
    it(`${issuer}: ${MCP_REMOTE_CALLBACK} at ${surface} is ${accepted ? 'accepted (positive)' : 'refused, naming the fix (negative)'}`, async () => {
      const as = await serverOn(issuer);
      const label = `${issuer} ${surface}`;
      try {
        if (surface === 'registration') {
          const response = await as.register({
            client_name: 'mcp-remote',
            redirect_uris: [MCP_REMOTE_CALLBACK],
            token_endpoint_auth_method: 'none',
          });
          const body = (await response.json()) as Record<string, unknown>;
          if (!accepted) {
            assert.equal(response.status, 400, label);
            assert.equal(body.error, 'invalid_redirect_uri', label);
            assert.match(String(body.error_description), /must not be under \/oauth/, label);
            assert.match(String(body.error_description), /--callback-path \/callback/, label);
            assert.equal(await as.store.countClients(), 0, `${label}: nothing registered`);
            return;
          }
          assert.equal(response.status, 201, JSON.stringify(body));
          assert.deepEqual(body.redirect_uris, [MCP_REMOTE_CALLBACK]);
          // The client it registered goes on to sign-in with that very URI.
          assertToSignIn(await as.authorize(String(body.client_id), MCP_REMOTE_CALLBACK), label);
        } else if (surface === 'client metadata document') {
          const clientId = docs.document(`/mcp-remote-${index}.json`, {
            redirect_uris: [MCP_REMOTE_CALLBACK],
          });
          const response = await as.authorize(clientId, MCP_REMOTE_CALLBACK);
          assert.equal(docs.hitsOf(`/mcp-remote-${index}.json`), 1, `${label}: document read`);
          if (accepted) assertToSignIn(response, label);
          else await assertRefusedPage(response, label);
        } else {
          // Registered without a port, asked on mcp-remote's port (RFC 8252 §7.3).
          const response = await as.authorize('pre-oauth-callback', MCP_REMOTE_CALLBACK);
          if (accepted) assertToSignIn(response, label);
          else await assertRefusedPage(response, label);
        }
      } finally {
        await as.close();
      }
    });
  }

  it('positive control: a loopback issuer accepts the fix, a callback outside /oauth', async () => {
    const as = await serverOn('http://127.0.0.1:8080');
    try {
      const callback = 'http://127.0.0.1:33418/callback';
      const response = await as.register({
        client_name: 'mcp-remote',
        redirect_uris: [callback],
        token_endpoint_auth_method: 'none',
      });
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 201, JSON.stringify(body));
      assertToSignIn(await as.authorize(String(body.client_id), callback), 'registered');
      const clientId = docs.document('/mcp-remote-fixed.json', { redirect_uris: [callback] });
      assertToSignIn(await as.authorize(clientId, callback), 'document');
    } finally {
      await as.close();
    }
  });
});

/** Drives the login form through `handle` directly, so each attempt can come from any address. */
async function signInFrom(address: string, username: string, password: string): Promise<Response> {
  const context = { clientAddress: address };
  const form = await h.as.handle(new Request(`${h.url}/oauth/login`), context);
  const cookie = (form?.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
  const csrf = /name="csrf" value="([^"]+)"/.exec((await form?.text()) ?? '')?.[1] ?? '';
  const response = await h.as.handle(
    new Request(`${h.url}/oauth/login`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, username, password }),
    }),
    context,
  );
  if (response === undefined) throw new Error('no answer');
  return response;
}

describe('sign-in throttle: atomic, per (person, address), growing delays', () => {
  it('12 parallel wrong attempts for one person: at most 6 reach the password check', async () => {
    h.clock.advance(15 * 60_000);
    const before = h.eventsNamed('oauth.login.failed').length;
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () => signInFrom('192.0.2.10', 'hank', 'wrong')),
    ).then((responses) => responses.map((response) => response.status));
    const checked = statuses.filter((status) => status === 400).length;
    assert.ok(checked <= 6, `${checked} attempts were checked: ${statuses.join(',')}`);
    assert.equal(statuses.filter((status) => status === 429).length, 12 - checked);
    assert.equal(h.eventsNamed('oauth.login.failed').length - before, checked);
  });

  it('failures from one address do not lock the person out from another (no stranger lockout)', async () => {
    h.clock.advance(15 * 60_000);
    for (let index = 0; index < 8; index++) await signInFrom('198.51.100.7', 'ivy', 'wrong');
    const stranger = await signInFrom('198.51.100.7', 'ivy', PASSWORD);
    assert.equal(stranger.status, 429, 'the guessing address waits');
    assert.ok(Number(stranger.headers.get('retry-after')) >= 1);
    const owner = await signInFrom('203.0.113.5', 'ivy', PASSWORD);
    assert.equal(owner.status, 303, 'the person signs in from elsewhere');
    const neighbour = await signInFrom('198.51.100.7', 'jon', PASSWORD);
    assert.equal(neighbour.status, 303, 'positive control: another person at that address too');
  });

  it('the delays grow: over one window a guesser gets a handful of tries, the last ones minutes apart', async () => {
    const { LoginThrottle, THROTTLE } = await import(
      '../../src/authorization-server/login-throttle.ts'
    );
    const store = new MemoryStore();
    const throttle = new LoginThrottle(store);
    const start = 1_800_000_000_000 - (1_800_000_000_000 % THROTTLE.windowMs);
    const admitted: number[] = [];
    for (let now = start; now < start + THROTTLE.windowMs; now += 250) {
      const decision = await throttle.admit('kim', '192.0.2.99', now);
      if (!decision.allowed) continue;
      admitted.push(now);
      await throttle.failed('kim', '192.0.2.99', decision.attempt, now);
    }
    const gaps = admitted.slice(1).map((at, index) => at - (admitted[index] ?? at));
    assert.ok(admitted.length <= 16, `${admitted.length} attempts in 15 minutes`);
    assert.ok(admitted.length >= 8, 'the free attempts and some delayed ones');
    assert.equal(gaps[4] !== undefined && gaps[4] > 0, true, 'the 6th waits after the 5th failure');
    assert.ok((gaps.at(-1) ?? 0) >= 60_000, `the last gap is ${gaps.at(-1)} ms`);
    const fresh = await throttle.admit('kim', '192.0.2.100', start + 1000);
    assert.equal(fresh.allowed, true, 'positive control: another address starts free');
    await store.close();
  });
});

describe('pending authorization requests are bounded', () => {
  it('the 61st pending request from one address in the window is a 429 page; another address goes on', async () => {
    h.clock.advance(10 * 60_000);
    const ask = (address: string) =>
      h.as.handle(
        new Request(`${h.url}/oauth/authorize?${authorizeQuery(h, { state: 'x'.repeat(4096) })}`),
        { clientAddress: address },
      );
    for (let index = 0; index < 60; index++) {
      assert.equal((await ask('192.0.2.50'))?.status, 303);
    }
    const refused = await ask('192.0.2.50');
    assert.equal(refused?.status, 429);
    assert.ok(Number(refused?.headers.get('retry-after')) >= 1);
    assert.equal(refused?.headers.get('location'), null);
    assert.equal(refused?.headers.getSetCookie().length, 0, 'nothing stored for it');
    assert.equal((await ask('192.0.2.51'))?.status, 303, 'positive control');
  });

  it('device authorization requests count against the same bound per address', async () => {
    h.clock.advance(10 * 60_000);
    const ask = (address: string) =>
      h.as.handle(
        new Request(`${h.url}/oauth/device_authorization`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: 'device-cli', resource: h.resource }),
        }),
        { clientAddress: address },
      );
    for (let index = 0; index < 60; index++) {
      assert.equal((await ask('192.0.2.60'))?.status, 200);
    }
    const refused = await ask('192.0.2.60');
    assert.equal(refused?.status, 429);
    assert.ok(Number(refused?.headers.get('retry-after')) >= 1);
    assert.equal((await ask('192.0.2.61'))?.status, 200, 'positive control');
  });

  it('a global ceiling holds however many addresses ask', async () => {
    const { admitPendingAuthorization, PENDING_LIMITS } = await import(
      '../../src/authorization-server/pending-limits.ts'
    );
    const store = new MemoryStore();
    const now = 1_800_000_000_000;
    let admitted = 0;
    for (let index = 0; index < PENDING_LIMITS.total + 50; index++) {
      const wait = await admitPendingAuthorization(store, `10.0.${index >> 8}.${index & 255}`, now);
      if (wait === undefined) admitted++;
    }
    assert.equal(admitted, PENDING_LIMITS.total);
    await store.close();
  });
});

describe('user code entry is rate-limited (RFC 8628 §5.1)', () => {
  /** Enters a user code on the device page from `address`; returns the answer. */
  async function enter(address: string, userCode: string): Promise<Response> {
    const context = { clientAddress: address };
    const form = await h.as.handle(new Request(`${h.url}/oauth/device`), context);
    const cookie = (form?.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
    const csrf = /name="csrf" value="([^"]+)"/.exec((await form?.text()) ?? '')?.[1] ?? '';
    const response = await h.as.handle(
      new Request(`${h.url}/oauth/device`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, user_code: userCode }),
      }),
      context,
    );
    if (response === undefined) throw new Error('no answer');
    return response;
  }

  it('after 20 codes from one address in the window, even a right one is refused with 429', async () => {
    h.clock.advance(15 * 60_000);
    for (let index = 0; index < 20; index++) {
      const wrong = await enter('192.0.2.90', 'BCDF-GHJK');
      assert.equal(wrong.status, 400);
    }
    const issued = await h.as.handle(
      new Request(`${h.url}/oauth/device_authorization`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: 'device-cli', resource: h.resource }),
      }),
      { clientAddress: '192.0.2.91' },
    );
    assert.equal(issued?.status, 200);
    const { user_code: userCode } = (await (issued as Response).json()) as { user_code: string };
    const refused = await enter('192.0.2.90', userCode);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const elsewhere = await enter('192.0.2.92', userCode);
    assert.equal(elsewhere.status, 303, 'positive control: the code itself still works');
  });
});

describe('consent for public clients whose identity is not assured (RFC 8252 §8.6)', () => {
  it('a public client with a loopback redirect gets the consent page every time, on any port', async () => {
    const registered = await register(h, {
      client_name: 'Loopback app',
      redirect_uris: ['http://127.0.0.1/cb'],
      token_endpoint_auth_method: 'none',
    });
    const clientId = String(registered.body.client_id);
    const browser = h.browser();
    const first = await h.authorize({
      browser,
      clientId,
      redirectUri: 'http://127.0.0.1:4100/cb',
      username: 'jon',
    });
    assert.ok(first.searchParams.get('code'));
    const again = await browser.get(
      `/oauth/authorize?${authorizeQuery(h, { clientId, redirectUri: 'http://127.0.0.1:4200/cb' })}`,
    );
    const consent = await browser.get(again.headers.get('location') ?? '');
    assert.equal(consent.status, 200, 'the consent page, not a code');
    assert.match(await consent.text(), /Loopback app/);
  });

  it('positive control: a confidential client with a remembered consent goes straight back', async () => {
    const browser = h.browser();
    await h.authorize({
      browser,
      clientId: 'pre-confidential',
      redirectUri: 'https://app.example/cb',
      username: 'jon',
    });
    const again = await browser.get(
      `/oauth/authorize?${authorizeQuery(h, { clientId: 'pre-confidential', redirectUri: 'https://app.example/cb' })}`,
    );
    const consent = await browser.get(again.headers.get('location') ?? '');
    assert.equal(consent.status, 303);
    assert.ok(new URL(consent.headers.get('location') ?? '').searchParams.get('code'));
  });
});

describe('client names that hide or reorder text are refused', () => {
  const cases: [string, string][] = [
    ['right-to-left override', 'Safe \u202Egnp.exe'],
    ['isolate', 'Bank \u2067Evil\u2069'],
    ['zero-width space', 'Go\u200Bogle'],
    ['zero-width joiner', 'Claude\u200D'],
    ['no-break space padding', 'Claude\u00A0\u00A0\u00A0(official)'],
    ['line separator', 'Claude\u2028Evil'],
    ['BOM', '\uFEFFClaude'],
    ['variation selector', 'Claude\uFE0F'],
    ['Hangul filler', 'Claude\u3164'],
    ['tag character', 'Claude\u{E0041}'],
  ];
  for (const [name, value] of cases) {
    it(`${name}: 400 invalid_client_metadata, nothing registered`, async () => {
      h.clock.advance(3600_000);
      const refused = await register(h, {
        client_name: value,
        redirect_uris: ['https://names.example/cb'],
        token_endpoint_auth_method: 'none',
      });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_client_metadata');
      assert.equal(refused.body.client_id, undefined);
    });
  }

  it('positive control: letters of any script, accents and ordinary spaces register', async () => {
    const accepted = await register(h, {
      client_name: 'Café Müller — 日本語 עברית العربية',
      redirect_uris: ['https://names.example/cb'],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(accepted.status, 201);
  });

  it('names registered before the rule are neutralized when shown', async () => {
    const { neutralizeForDisplay } = await import(
      '../../src/authorization-server/checks/display-text.ts'
    );
    assert.equal(neutralizeForDisplay('Safe \u202Egnp.exe'), 'Safe \uFFFDgnp.exe');
    assert.equal(neutralizeForDisplay('Café 日本'), 'Café 日本');
  });
});

describe('client metadata refusals (registration and metadata documents)', () => {
  const base = { redirect_uris: ['https://meta.example/cb'], token_endpoint_auth_method: 'none' };
  const refusals: [string, Record<string, unknown>][] = [
    ['logo_uri over plain http', { logo_uri: 'http://meta.example/logo.png' }],
    ['client_uri not a URL', { client_uri: 'not a url' }],
    ['policy_uri overlong', { policy_uri: `https://meta.example/${'p'.repeat(2100)}` }],
    ['jwks_uri not a string', { jwks_uri: 7 }],
    ['scope not a string', { scope: ['files:read'] }],
    ['scope with double spaces', { scope: 'files:read  files:write' }],
    ['scope outside what the gateway offers', { scope: 'files:read root' }],
    ['application_type other than native/web', { application_type: 'desktop' }],
    ['an unknown auth method', { token_endpoint_auth_method: 'private_key_jwt' }],
    ['jwks that is not a set', { token_endpoint_auth_method: 'client_secret_basic', jwks: [] }],
    ['jwks holding a non-object', { jwks: { keys: ['x'] } }],
    ['jwks with a private key', { jwks: { keys: [{ kty: 'EC', d: 'secret' }] } }],
    ['grant_types not strings', { grant_types: [1] }],
    ['a software statement', { software_statement: 'eyJ...' }],
  ];
  for (const [name, extra] of refusals) {
    it(`${name}: 400 invalid_client_metadata, nothing registered`, async () => {
      h.clock.advance(3600_000);
      const before = await h.store.countClients();
      const refused = await register(h, { ...base, ...extra });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'invalid_client_metadata');
      // Never more clients (the registration step may prune stale ones meanwhile).
      assert.ok((await h.store.countClients()) <= before);
    });
  }

  it('metadata documents: no shared secret, no secret auth method, no other method', async () => {
    const { validateClientMetadata } = await import(
      '../../src/authorization-server/checks/client-metadata.ts'
    );
    const document = { redirect_uris: ['https://meta.example/cb'] };
    for (const extra of [
      { client_secret: 's' },
      { client_secret_expires_at: 0 },
      { token_endpoint_auth_method: 'client_secret_post' },
      { token_endpoint_auth_method: 'private_key_jwt' },
      { jwks: { keys: [{ kty: 'RSA', p: 'x' }] } },
    ]) {
      assert.throws(
        () => validateClientMetadata({ ...document, ...extra }, 'document', ['files:read']),
        /invalid_client_metadata|must not|only token_endpoint_auth_method|jwks/,
        JSON.stringify(extra),
      );
    }
    const kept = validateClientMetadata(
      { ...document, token_endpoint_auth_method: 'none', scope: 'files:read' },
      'document',
      ['files:read'],
    );
    assert.equal(kept.token_endpoint_auth_method, 'none', 'positive control');
  });

  it('positive control: https informational URIs, a known scope and application_type register', async () => {
    h.clock.advance(3600_000);
    const accepted = await register(h, {
      ...base,
      logo_uri: 'https://meta.example/logo.png',
      client_uri: 'https://meta.example/',
      scope: 'files:read',
      // An https redirect URI to a public host is a web client's (native allows only loopback).
      application_type: 'web',
    });
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
  });
});

describe('edges of the sign-in and consent forms', () => {
  it('a deferred error for a client the person granted before goes back once they sign in', async () => {
    h.clock.advance(3600_000);
    const registered = await register(h, {
      redirect_uris: ['https://granted.example/cb'],
      token_endpoint_auth_method: 'none',
    });
    const clientId = String(registered.body.client_id);
    const granted = await h.authorize({
      clientId,
      redirectUri: 'https://granted.example/cb',
      username: 'kim',
    });
    assert.ok(granted.searchParams.get('code'));
    // A fresh browser, not signed in: the error waits for the sign-in, then goes back.
    const browser = h.browser();
    const first = await browser.get(
      `/oauth/authorize?${authorizeQuery(h, { clientId, redirectUri: 'https://granted.example/cb', scope: 'nope' })}`,
    );
    assert.match(first.headers.get('location') ?? '', /^\/oauth\/login\?/);
    const landed = await browser.completeFlow(first, 'kim', PASSWORD, 'allow');
    assert.equal(landed.origin, 'https://granted.example');
    assert.equal(landed.searchParams.get('error'), 'invalid_scope');
    assert.equal(landed.searchParams.get('iss'), h.issuer);
  });

  it('a consent decision other than allow or deny: 400, no code', async () => {
    const browser = h.browser();
    const first = await browser.get(`/oauth/authorize?${authorizeQuery(h, {})}`);
    const login = await browser.get(first.headers.get('location') ?? '');
    const signedIn = await browser.postForm('/oauth/login', {
      ...hiddenFields(await login.text()),
      username: 'kim',
      password: PASSWORD,
    });
    const consent = await browser.get(signedIn.headers.get('location') ?? '');
    const fields = hiddenFields(await consent.text());
    const refused = await browser.postForm('/oauth/consent', { ...fields, decision: 'maybe' });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('location'), null);
    const allowed = await browser.postForm('/oauth/consent', { ...fields, decision: 'allow' });
    assert.ok(
      new URL(allowed.headers.get('location') ?? '').searchParams.get('code'),
      'positive control',
    );
  });

  it('a sign-in form without username or password is refused like a wrong password', async () => {
    h.clock.advance(15 * 60_000);
    const context = { clientAddress: '192.0.2.77' };
    const form = await h.as.handle(new Request(`${h.url}/oauth/login`), context);
    const cookie = (form?.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
    const csrf = /name="csrf" value="([^"]+)"/.exec((await form?.text()) ?? '')?.[1] ?? '';
    const response = await h.as.handle(
      new Request(`${h.url}/oauth/login`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf }),
      }),
      context,
    );
    assert.equal(response?.status, 400);
    assert.match((await response?.text()) ?? '', /Wrong username or password/);
  });
});
