/**
 * The login and consent pages: framing and caching headers, CSRF and browser binding (AZ-12),
 * cookies, escaping (AZ-14), login throttling per user and per address, single use, expiry,
 * and withdrawing consent. Case ids (AZ-, RT-) are defined in docs/security-cases.md.
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
import {
  authorizeQuery,
  type Browser,
  baseDocument,
  createHarness,
  type Harness,
  hiddenFields,
  newPkce,
  PASSWORD,
  register,
} from './harness.ts';

const LOOPBACK = 'http://127.0.0.1:4567/cb';

let h: Harness;
before(async () => {
  h = await createHarness();
  for (const name of ['dora', 'erin', 'fred', 'gina']) {
    await setUserPassword(h.store, name, PASSWORD, h.clock.now);
  }
});
after(async () => {
  await h.close();
});

/** Starts an authorization in `browser` and returns the login page's URL and html. */
async function startLogin(browser: Browser, extra: Record<string, string> = {}) {
  const first = await browser.get(
    `/oauth/authorize?${authorizeQuery(h, { redirectUri: LOOPBACK, extra }).toString()}`,
  );
  assert.equal(first.status, 303);
  const location = first.headers.get('location') ?? '';
  const page = await browser.get(location);
  return { location, page, html: await page.text() };
}

/** Signs in and returns the consent page. */
async function reachConsent(browser: Browser, username: string) {
  const login = await startLogin(browser);
  const signedIn = await browser.postForm('/oauth/login', {
    ...hiddenFields(login.html),
    username,
    password: PASSWORD,
  });
  assert.equal(signedIn.status, 303, 'AZ-11: 303 after the login POST');
  const location = signedIn.headers.get('location') ?? '';
  const page = await browser.get(location);
  return { location, page, html: await page.text() };
}

describe('page headers (AZ-12)', () => {
  it('login and consent pages cannot be framed or cached and allow no script', async () => {
    const browser = h.browser();
    const login = await startLogin(browser);
    const consent = await reachConsent(h.browser(), 'dora');
    for (const page of [login.page, consent.page]) {
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      const csp = page.headers.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /default-src 'none'/);
      assert.doesNotMatch(csp, /script-src/);
      assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:4567/);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    }
    assert.match(login.html, /<label for="username">Username<\/label>/);
    assert.match(login.html, /<label for="password">Password<\/label>/);
    assert.match(login.html, /<button type="submit">Sign in<\/button>/);
    assert.match(consent.html, />Allow<\/button>/);
    assert.match(consent.html, />Deny<\/button>/);
  });
});

describe('CSRF and browser binding (AZ-12)', () => {
  it('consent POST without a CSRF token: 403, no code', async () => {
    const browser = h.browser();
    const consent = await reachConsent(browser, 'dora');
    const fields = hiddenFields(consent.html);
    const response = await browser.postForm('/oauth/consent', {
      interaction: fields.interaction ?? '',
      decision: 'allow',
    });
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('location'), null);
    assert.match(await response.text(), /form_csrf_invalid/);
  });

  it("consent POST with another request's CSRF token: 403", async () => {
    const browser = h.browser();
    const one = await reachConsent(browser, 'dora');
    // Already signed in: the second request goes straight to its consent page.
    const two = await startLogin(browser);
    assert.match(two.location, /^\/oauth\/consent\?/);
    const response = await browser.postForm('/oauth/consent', {
      interaction: hiddenFields(one.html).interaction ?? '',
      csrf: hiddenFields(two.html).csrf ?? '',
      decision: 'allow',
    });
    assert.equal(response.status, 403);
  });

  it('consent POST from another browser (other cookies): 403', async () => {
    const victim = h.browser();
    const consent = await reachConsent(victim, 'dora');
    const attacker = h.browser();
    await reachConsent(attacker, 'dora');
    const response = await attacker.postForm('/oauth/consent', {
      ...hiddenFields(consent.html),
      decision: 'allow',
    });
    assert.equal(response.status, 403);
  });

  it('a pending request opened in another browser: 403', async () => {
    const one = h.browser();
    const login = await startLogin(one);
    const other = h.browser();
    await other.get('/oauth/login');
    const response = await other.get(login.location);
    assert.equal(response.status, 403);
  });

  it('login POST without a CSRF token: 403', async () => {
    const browser = h.browser();
    const login = await startLogin(browser);
    const response = await browser.postForm('/oauth/login', {
      interaction: hiddenFields(login.html).interaction ?? '',
      username: 'dora',
      password: PASSWORD,
    });
    assert.equal(response.status, 403);
  });

  it('positive control: the same forms with their tokens go through with 303', async () => {
    const browser = h.browser();
    const consent = await reachConsent(browser, 'dora');
    const response = await browser.postForm('/oauth/consent', {
      ...hiddenFields(consent.html),
      decision: 'allow',
    });
    assert.equal(response.status, 303);
    assert.ok(new URL(response.headers.get('location') ?? '').searchParams.get('code'));
  });

  it('a completed request cannot be completed again', async () => {
    const browser = h.browser();
    const consent = await reachConsent(browser, 'erin');
    const fields = { ...hiddenFields(consent.html), decision: 'allow' };
    assert.equal((await browser.postForm('/oauth/consent', fields)).status, 303);
    const again = await browser.postForm('/oauth/consent', fields);
    assert.equal(again.status, 400);
    assert.match(await again.text(), /interaction_not_found/);
  });

  it('a pending request expires after 10 minutes', async () => {
    const browser = h.browser();
    const login = await startLogin(browser);
    h.clock.advance(600_001);
    const late = await browser.get(login.location);
    assert.equal(late.status, 400);
    assert.match(await late.text(), /interaction_not_found/);
  });
});

describe('cookies', () => {
  it('on plain-http loopback: HttpOnly, SameSite=Lax, Path=/, without Secure or __Host-', async () => {
    const response = await fetch(
      `${h.url}/oauth/authorize?${authorizeQuery(h, { redirectUri: LOOPBACK }).toString()}`,
      { redirect: 'manual' },
    );
    const [cookie] = response.headers.getSetCookie();
    assert.match(
      cookie ?? '',
      /^portcullis-browser=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
    );
  });

  it('with an https issuer: __Host- prefix and Secure as well', async () => {
    const document = baseDocument(8080);
    document.remote_mcp.public_url = 'https://gw.example';
    const loaded = loadConfigText(stringify(document), {
      env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET: 'x'.repeat(32) },
    });
    const store = new MemoryStore();
    const server = await createAuthorizationServer(loaded, { store });
    try {
      const pkce = newPkce();
      const response = await server.handle(
        new Request(
          `https://gw.example/oauth/authorize?${new URLSearchParams({
            response_type: 'code',
            client_id: 'pre-public',
            redirect_uri: LOOPBACK,
            code_challenge: pkce.challenge,
            code_challenge_method: 'S256',
            resource: 'https://gw.example/mcp',
          }).toString()}`,
        ),
      );
      const [cookie] = response?.headers.getSetCookie() ?? [];
      assert.match(
        cookie ?? '',
        /^__Host-portcullis-browser=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
      );
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('signing in issues a fresh session id (no fixation) and the session cookie carries Max-Age', async () => {
    const browser = h.browser();
    browser.cookies.set('portcullis-session', 'A'.repeat(43));
    const login = await startLogin(browser);
    const response = await browser.postForm('/oauth/login', {
      ...hiddenFields(login.html),
      username: 'dora',
      password: PASSWORD,
    });
    const session = response.headers
      .getSetCookie()
      .find((line) => line.startsWith('portcullis-session='));
    assert.ok(session);
    assert.doesNotMatch(session, /A{43}/);
    assert.match(session, /HttpOnly; SameSite=Lax; Max-Age=28800$/);
  });
});

describe('AZ-14 what the consent page shows', () => {
  it('escapes HTML in client names and warns about localhost redirects', async () => {
    nextRegistrationWindow();
    const registered = await register(h, {
      client_name: '<img src=x onerror=alert(1)>',
      redirect_uris: [LOOPBACK],
      token_endpoint_auth_method: 'none',
    });
    const browser = h.browser();
    const login = await browser.get(
      `/oauth/authorize?${authorizeQuery(h, {
        clientId: String(registered.body.client_id),
        redirectUri: LOOPBACK,
      }).toString()}`,
    );
    const page = await browser.get(login.headers.get('location') ?? '');
    const signedIn = await browser.postForm('/oauth/login', {
      ...hiddenFields(await page.text()),
      username: 'dora',
      password: PASSWORD,
    });
    const consent = await (await browser.get(signedIn.headers.get('location') ?? '')).text();
    assert.doesNotMatch(consent, /<img/);
    assert.match(consent, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(consent, /<strong>127\.0\.0\.1:4567<\/strong>/);
    assert.match(consent, /class="warning"/);
    assert.match(consent, /<li><code>files:read<\/code><\/li>/);
    assert.match(consent, new RegExp(`<code>${h.resource.replace(/[.]/g, '\\.')}</code>`));
  });

  it('no localhost warning for an https redirect', async () => {
    const browser = h.browser();
    const first = await browser.get(
      `/oauth/authorize?${authorizeQuery(h, { redirectUri: 'https://app.example/cb' }).toString()}`,
    );
    const login = await browser.get(first.headers.get('location') ?? '');
    const signedIn = await browser.postForm('/oauth/login', {
      ...hiddenFields(await login.text()),
      username: 'gina',
      password: PASSWORD,
    });
    const consent = await (await browser.get(signedIn.headers.get('location') ?? '')).text();
    assert.match(consent, /<strong>app\.example<\/strong>/);
    assert.doesNotMatch(consent, /class="warning"/);
    assert.match(consent, /Pre-registered public client/);
  });
});

function nextRegistrationWindow(): void {
  h.clock.advance(3600_000);
}

describe('login throttling', () => {
  async function attempt(browser: Browser, username: string, password: string) {
    const login = await startLogin(browser);
    return browser.postForm('/oauth/login', { ...hiddenFields(login.html), username, password });
  }

  it('5 failures for a user lock that user for the window, even with the right password', async () => {
    const browser = h.browser();
    h.clock.advance(15 * 60_000);
    for (let index = 0; index < 5; index++) {
      const failed = await attempt(browser, 'fred', 'wrong password');
      assert.equal(failed.status, 400);
      assert.match(await failed.text(), /Wrong username or password\./);
    }
    const locked = await attempt(browser, 'fred', PASSWORD);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    assert.match(await locked.text(), /Too many failed sign-ins/);
    assert.equal(h.eventsNamed('oauth.login.throttled').at(-1)?.subject, 'fred');
    assert.equal(h.eventsNamed('oauth.login.failed').at(-1)?.subject, 'fred');
    const other = await attempt(browser, 'gina', PASSWORD);
    assert.equal(other.status, 303, 'another user is not affected');
    h.clock.advance(15 * 60_000);
    const later = await attempt(h.browser(), 'fred', PASSWORD);
    assert.equal(later.status, 303, 'positive control: the next window lets fred in');
  });

  it('an unknown user and a wrong password look the same', async () => {
    const browser = h.browser();
    const unknown = await attempt(browser, 'nobody-here', 'x');
    const wrong = await attempt(browser, 'gina', 'x');
    const strip = (html: string) => html.replace(/(value|nonce)="[^"]*"/g, '');
    assert.equal(unknown.status, wrong.status);
    assert.equal(
      strip(await unknown.text()).replace('nobody-here', 'NAME'),
      strip(await wrong.text()).replace('gina', 'NAME'),
    );
  });

  it('20 failures from one address lock the address for every user', async () => {
    h.clock.advance(15 * 60_000);
    const browser = h.browser();
    const names = ['u1', 'u2', 'u3', 'u4'];
    for (let index = 0; index < 20; index++) {
      await attempt(browser, names[index % names.length] ?? 'u', 'wrong');
    }
    const locked = await attempt(browser, 'gina', PASSWORD);
    assert.equal(locked.status, 429);
    h.clock.advance(15 * 60_000);
    assert.equal((await attempt(browser, 'gina', PASSWORD)).status, 303);
  });
});

describe('withdrawing consent', () => {
  it('the account page lists consents; revoking one revokes its grants and asks again next time', async () => {
    h.clock.advance(15 * 60_000);
    const browser = h.browser();
    const tokens = await h.obtainTokens({ browser, username: 'erin' });
    const account = await browser.get('/oauth/account');
    assert.equal(account.status, 200);
    const html = await account.text();
    assert.match(html, /<code>pre-public<\/code>/);
    const revoked = await browser.postForm('/oauth/account', {
      csrf: hiddenFields(html).csrf ?? '',
      client_id: 'pre-public',
    });
    assert.equal(revoked.status, 303);
    assert.equal(await h.store.getConsent('erin', 'pre-public'), undefined);
    const refresh = await h.token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: 'pre-public',
    });
    assert.equal(refresh.status, 400, 'RT-08 after consent withdrawal');
    assert.equal(h.eventsNamed('oauth.consent.revoked').at(-1)?.subject, 'erin');
    const again = await browser.get(
      `/oauth/authorize?${authorizeQuery(h, { redirectUri: LOOPBACK }).toString()}`,
    );
    const consent = await browser.get(again.headers.get('location') ?? '');
    assert.equal(consent.status, 200, 'the consent page is shown again');
  });

  it('revoking without the CSRF token is refused', async () => {
    const browser = h.browser();
    await h.obtainTokens({ browser, username: 'erin' });
    const response = await browser.postForm('/oauth/account', { client_id: 'pre-public' });
    assert.equal(response.status, 403);
    assert.ok(await h.store.getConsent('erin', 'pre-public'));
  });

  it('the account page needs a session; signing in without a pending request lands there', async () => {
    const browser = h.browser();
    const first = await browser.get('/oauth/account');
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/oauth/login');
    const login = await browser.get('/oauth/login');
    const signedIn = await browser.postForm('/oauth/login', {
      ...hiddenFields(await login.text()),
      username: 'gina',
      password: PASSWORD,
    });
    assert.equal(signedIn.headers.get('location'), '/oauth/account');
    assert.equal((await browser.get('/oauth/account')).status, 200);
  });
});
