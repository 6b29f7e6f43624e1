/**
 * The federation endpoints over HTTP against a real authorization server (the test harness)
 * and a provider fixture: the sign-in page's buttons and local form, and a table of ways the
 * provider's callback can be abused or fail — each ending on a page with its status and code,
 * with no session and no code for the client — closed by a positive control.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  authorizeQuery,
  type Browser,
  createHarness,
  type Harness,
  hiddenFields,
  newPkce,
} from '../authorization-server/harness.ts';
import { type ProviderFixture, startProviderFixture } from './provider-fixture.ts';

interface Started {
  readonly browser: Browser;
  readonly state: string;
  readonly nonce: string;
  readonly interaction: string;
}

describe('federation endpoints', () => {
  let op: ProviderFixture;
  let h: Harness;
  let quiet: Harness;

  before(async () => {
    op = await startProviderFixture();
    const provider = {
      name: 'corp',
      issuer: op.issuer,
      client_id: 'portcullis',
      client_secret_env: 'CONFIDENTIAL_SECRET',
      display_name: 'Corp SSO',
      claim_rules: [{ claim: 'email', ends_with: '@example.com', scopes: ['files:read'] }],
    };
    h = await createHarness({
      edit: (document) => {
        document.development = { allow_loopback_urls: true };
        document.authorization_server.identity_providers = [provider];
      },
    });
    quiet = await createHarness({
      edit: (document) => {
        document.development = { allow_loopback_urls: true };
        document.authorization_server.identity_providers = [provider];
        document.authorization_server.local_login = false;
      },
    });
  });
  after(async () => {
    await h?.close();
    await quiet?.close();
    await op?.close();
  });

  /** /oauth/authorize → the sign-in page → the Corp SSO button: where the provider is sent. */
  async function start(harness: Harness): Promise<Started> {
    const browser = harness.browser();
    const first = await browser.get(
      `/oauth/authorize?${authorizeQuery(harness, { pkce: newPkce(), scope: 'files:read files:write' }).toString()}`,
    );
    const login = new URL(first.headers.get('location') ?? '', harness.url);
    const page = await (await browser.get(login.pathname + login.search)).text();
    const fields = hiddenFields(page);
    // The button is a link carrying the provider, the pending request and the page's CSRF token.
    const href = /<a href="([^"]+)">Corp SSO<\/a>/.exec(page)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(href?.startsWith('/oauth/idp/start?'), page);
    const answer = await browser.get(href ?? '');
    assert.equal(answer.status, 303);
    const target = new URL(answer.headers.get('location') ?? '');
    assert.equal(`${target.origin}${target.pathname}`, `${op.issuer}/authorize`);
    return {
      browser,
      state: target.searchParams.get('state') ?? '',
      nonce: target.searchParams.get('nonce') ?? '',
      interaction: fields.interaction ?? '',
    };
  }

  const idToken = async (harness: Harness, nonce: string, email = 'jane@example.com') => {
    const now = Math.floor(harness.clock.now / 1000);
    return op.sign({
      iss: op.issuer,
      sub: 'jane',
      aud: 'portcullis',
      iat: now,
      exp: now + 300,
      nonce,
      email,
    });
  };

  const answerWith = async (harness: Harness, nonce: string, email?: string) => {
    op.tokenAnswers.push({
      status: 200,
      body: {
        access_token: 'provider-at',
        token_type: 'Bearer',
        expires_in: 600,
        id_token: await idToken(harness, nonce, email),
      },
    });
  };

  it('the sign-in page offers the provider button beside the password form (local users exist)', async () => {
    const browser = h.browser();
    const page = await (await browser.get('/oauth/login')).text();
    assert.match(
      page,
      /<ul class="providers"><li><a href="\/oauth\/idp\/start\?provider=corp&amp;csrf=[^"]+">Corp SSO<\/a><\/li><\/ul>/,
    );
    assert.match(page, /<label for="username">Username<\/label>/);
  });

  it('local_login: false hides the password form and refuses a password POST', async () => {
    const browser = quiet.browser();
    const page = await (await browser.get('/oauth/login')).text();
    assert.match(page, /Corp SSO/);
    assert.doesNotMatch(page, /name="password"/);
    // The page's CSRF token, as the provider link carries it (a real token for this browser).
    const csrf = /csrf=([^"&]+)/.exec(page)?.[1] ?? '';
    const refused = await browser.postForm('/oauth/login', {
      csrf: decodeURIComponent(csrf),
      username: 'alice',
      password: 'correct horse battery staple',
    });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /local account is turned off/);
  });

  it('the "or with a local account" line appears only above a password form', async () => {
    const offered = await (await h.browser().get('/oauth/login')).text();
    assert.match(offered, /<p class="or">or with a local account<\/p>/);
    const hidden = await (await quiet.browser().get('/oauth/login')).text();
    assert.match(hidden, /Corp SSO/);
    assert.doesNotMatch(hidden, /or with a local account/);
  });

  it('the admin listener signs in with the password form only (the provider endpoints are public)', async () => {
    const answer = await h.as.handleAdmin(new Request(`${h.url}/oauth/login`));
    const page = (await answer?.text()) ?? '';
    assert.equal(answer?.status, 200, page);
    assert.doesNotMatch(page, /class="providers"|\/oauth\/idp\/start/);
    assert.match(page, /<label for="username">Username<\/label>/);
    // Positive control: the public listener offers the button.
    assert.match(await (await h.browser().get('/oauth/login')).text(), /\/oauth\/idp\/start/);
  });

  const CASES: {
    name: string;
    run: (started: Started) => Promise<Response>;
    status: number;
    says: RegExp;
  }[] = [
    {
      name: 'an unknown state',
      run: async ({ browser }) => browser.get('/oauth/idp/callback?code=c&state=made-up'),
      status: 400,
      says: /expired or was already completed/,
    },
    {
      name: 'no state',
      run: async ({ browser }) => browser.get('/oauth/idp/callback?code=c'),
      status: 400,
      says: /expired or was already completed/,
    },
    {
      name: 'the callback in another browser (login CSRF)',
      run: async ({ state }) => h.browser().get(`/oauth/idp/callback?code=c&state=${state}`),
      status: 403,
      says: /started in another browser/,
    },
    {
      name: 'the provider answers with an error',
      run: async ({ browser, state }) =>
        browser.get(`/oauth/idp/callback?error=access_denied&state=${state}`),
      status: 502,
      says: /Corp SSO refused the sign-in: access_denied/,
    },
    {
      name: 'an ID token for another sign-in (nonce)',
      run: async ({ browser, state }) => {
        await answerWith(h, 'someone-elses-nonce');
        return browser.get(`/oauth/idp/callback?code=c&state=${state}`);
      },
      status: 502,
      says: /nonce/,
    },
    {
      name: 'a person outside every claim rule',
      run: async ({ browser, state, nonce }) => {
        await answerWith(h, nonce, 'mallory@elsewhere.test');
        return browser.get(`/oauth/idp/callback?code=c&state=${state}`);
      },
      status: 403,
      says: /not allowed to use this service/,
    },
    {
      name: 'the client secret refused at the token endpoint',
      run: async ({ browser, state }) => {
        op.tokenAnswers.push({ status: 401, body: { error: 'invalid_client' } });
        return browser.get(`/oauth/idp/callback?code=c&state=${state}`);
      },
      status: 502,
      says: /refused Portcullis&#39;s client credentials|refused Portcullis's client credentials/,
    },
  ];

  for (const entry of CASES) {
    it(`refuses: ${entry.name} — a page, no session, no code`, async () => {
      const started = await start(h);
      const answer = await entry.run(started);
      assert.equal(answer.status, entry.status);
      const text = await answer.text();
      assert.match(text, entry.says);
      assert.doesNotMatch(text, /confidential-client-secret/, 'never the secret');
      assert.equal(answer.headers.get('location'), null, 'no redirect, so no code');
      // Still not signed in: consent sends the browser back to the sign-in page.
      const consent = await started.browser.get(
        `/oauth/consent?interaction=${started.interaction}`,
      );
      assert.equal(consent.status, 303);
      assert.match(consent.headers.get('location') ?? '', /^\/oauth\/login\?/);
      op.tokenAnswers.length = 0;
    });
  }

  it('refuses a sign-in started without the page’s CSRF token (another site linking here)', async () => {
    const browser = h.browser();
    await browser.get('/oauth/login');
    const answer = await browser.get('/oauth/idp/start?provider=corp');
    assert.equal(answer.status, 403);
    assert.equal(answer.headers.get('location'), null, 'not sent to the provider');
  });

  it('refuses a button for a provider that is not configured', async () => {
    const browser = h.browser();
    const fields = hiddenFields(await (await browser.get('/oauth/login')).text());
    const answer = await browser.postForm('/oauth/idp/start', { ...fields, provider: 'nobody' });
    assert.equal(answer.status, 400);
    assert.match(await answer.text(), /no such identity provider/);
  });

  it('refuses a person whose account was disabled here, though the provider signed them in', async () => {
    const first = await start(h);
    await answerWith(h, first.nonce, 'disabled@example.com');
    const signedIn = await first.browser.get(`/oauth/idp/callback?code=c&state=${first.state}`);
    assert.equal(signedIn.status, 303);
    const identity = [...h.events]
      .reverse()
      .find((event) => event.event === 'oauth.login.succeeded')?.subject;
    assert.ok(identity);
    const user = await h.store.getUser(identity);
    assert.ok(user);
    await h.store.putUser({ ...user, disabled: true });
    const again = await start(h);
    await answerWith(h, again.nonce, 'disabled@example.com');
    const refused = await again.browser.get(`/oauth/idp/callback?code=c&state=${again.state}`);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /disabled here/);
    await h.store.putUser({ ...user, disabled: false });
  });

  it('refuses a replayed callback (the state is single use)', async () => {
    const started = await start(h);
    await answerWith(h, started.nonce);
    const first = await started.browser.get(`/oauth/idp/callback?code=c&state=${started.state}`);
    assert.equal(first.status, 303);
    const again = await started.browser.get(`/oauth/idp/callback?code=c&state=${started.state}`);
    assert.equal(again.status, 400);
  });

  it('positive control: a genuine sign-in reaches consent with only the scopes the rules allow', async () => {
    const started = await start(h);
    await answerWith(h, started.nonce);
    const answer = await started.browser.get(`/oauth/idp/callback?code=c&state=${started.state}`);
    assert.equal(answer.status, 303);
    assert.equal(
      answer.headers.get('location'),
      `/oauth/consent?interaction=${started.interaction}`,
    );
    const consent = await started.browser.get(`/oauth/consent?interaction=${started.interaction}`);
    assert.equal(consent.status, 200);
    const text = await consent.text();
    assert.match(text, /jane@example\.com \(Corp SSO\)/);
    assert.match(text, /<code>files:read<\/code>/);
    assert.doesNotMatch(text, /<code>files:write<\/code>/);
    assert.ok(h.eventsNamed('oauth.login.succeeded').length > 0);
    assert.ok(
      h
        .eventsNamed('oauth.login.failed')
        .some((event) => event.reason === 'FederationNotPermitted'),
    );
  });
});
