/**
 * The sign-in cookies never reach a native client's loopback callback, in real Chromium.
 *
 * Cookies are scoped by host, not by port (RFC 6265 §8.5): with a plain-http loopback issuer
 * (the quickstart) a local application that registers `http://127.0.0.1:PORT/callback` shares
 * the cookie host with the authorization server. Before the fix, Chromium sent the browser and
 * session cookies along with the redirect to that callback, and replaying them approved any
 * other client as the signed-in person. Now the cookies are confined to the server's own paths
 * and a loopback redirect URI under that path is refused.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import {
  authorizeQuery,
  createHarness,
  type Harness,
  hiddenFields,
  newPkce,
  PASSWORD,
  register,
} from '../authorization-server/harness.ts';
import { launchChromium, SKIP_WITHOUT_CHROMIUM } from '../helpers/browser-oauth.ts';

interface Seen {
  readonly url: URL;
  readonly cookie: string;
}

/** A hostile local application: records what its callback receives and sets a cookie of its own. */
async function hostileCallback() {
  const seen: Seen[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    seen.push({
      url: new URL(request.url ?? '/', 'http://127.0.0.1'),
      cookie: request.headers.cookie ?? '',
    });
    response
      .writeHead(200, {
        'content-type': 'text/plain',
        'set-cookie': 'local-app=chosen-by-the-app; Path=/',
      })
      .end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/callback`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('loopback callbacks get no sign-in cookie (Chromium)', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let h: Harness;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let context: BrowserContext;
  let app: Awaited<ReturnType<typeof hostileCallback>>;

  before(async () => {
    h = await createHarness();
    h.clock.now = Date.now();
    app = await hostileCallback();
    browser = await launchChromium();
    context = browser.context;
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await h?.close();
  });

  it('a loopback redirect URI under /oauth is refused at registration (negative)', async () => {
    const refused = await register(h, {
      client_name: 'Cookie catcher',
      redirect_uris: [`http://127.0.0.1:${app.port}/oauth/callback`],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_redirect_uri');
    const exact = await register(h, {
      client_name: 'Cookie catcher',
      redirect_uris: [`http://127.0.0.1:${app.port}/oauth`],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(exact.status, 400);
    assert.equal(app.seen.length, 0, 'the application saw nothing');
  });

  it('signs in and consents in Chromium; the callback gets the code and no Portcullis cookie; replaying what it got approves nothing', {
    timeout: 120_000,
  }, async () => {
    const registered = await register(h, {
      client_name: 'Local app',
      redirect_uris: [app.url],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(registered.status, 201);
    const clientId = String(registered.body.client_id);

    // The app's own page was visited once before: the browser holds a cookie it chose.
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${app.port}/hello`);
    const query = authorizeQuery(h, { clientId, redirectUri: app.url, scope: 'files:read' });
    await page.goto(`${h.url}/oauth/authorize?${query.toString()}`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth\/consent\?/);
    await Promise.all([
      page.waitForURL(`${app.url}?**`),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    await page.close();

    const landed = app.seen.find((entry) => entry.url.pathname === '/callback');
    assert.ok(landed, 'the callback was reached');
    assert.ok(landed.url.searchParams.get('code'), 'positive control: the code arrived');
    assert.doesNotMatch(landed.cookie, /portcullis/i, 'no Portcullis cookie at the callback');
    assert.match(landed.cookie, /local-app=chosen-by-the-app/, 'the app got only its own cookie');

    // Positive control: the browser does hold both cookies, scoped to the server's paths.
    const held = (await context.cookies()).filter((cookie) => cookie.domain === '127.0.0.1');
    const names = held.map((cookie) => cookie.name).sort();
    assert.deepEqual(names, ['local-app', 'portcullis-browser', 'portcullis-session']);
    for (const cookie of held.filter((entry) => entry.name.startsWith('portcullis-'))) {
      assert.equal(cookie.path, '/oauth');
      assert.equal(cookie.httpOnly, true);
    }

    // The app replays whatever it received to get another client approved as alice.
    const replay = await approveAs(h, landed.cookie);
    assert.equal(replay.authorize, 303);
    assert.match(replay.next, /^\/oauth\/login\?/, 'not signed in: sent to the login page');
    assert.equal(replay.consentPost, 403, 'a consent POST with those cookies is refused');
    assert.equal(replay.code, undefined, 'no code');

    // Positive control: the real cookies (which the callback never saw) do carry the sign-in.
    const real = held.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
    const owner = await approveAs(h, real);
    assert.match(owner.next, /^\/oauth\/consent\?/, 'the real session reaches consent');
  });
});

/**
 * What a replayer gets: /oauth/authorize for the pre-registered public client with the given
 * Cookie header, then a consent POST for the pending request it was sent to (if any).
 */
async function approveAs(
  h: Harness,
  cookie: string,
): Promise<{ authorize: number; next: string; consentPost: number; code: string | undefined }> {
  const headers: Record<string, string> = cookie === '' ? {} : { cookie };
  const query = authorizeQuery(h, { pkce: newPkce(), scope: 'files:read' });
  const first = await fetch(`${h.url}/oauth/authorize?${query.toString()}`, {
    redirect: 'manual',
    headers,
  });
  const next = first.headers.get('location') ?? '';
  const interaction = new URL(next, h.url).searchParams.get('interaction') ?? '';
  const consentPage = await fetch(`${h.url}/oauth/consent?interaction=${interaction}`, {
    redirect: 'manual',
    headers,
  });
  const fields = consentPage.status === 200 ? hiddenFields(await consentPage.text()) : {};
  const post = await fetch(`${h.url}/oauth/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ interaction, csrf: 'guess', ...fields, decision: 'allow' }),
  });
  const location = post.headers.get('location') ?? '';
  const code = URL.canParse(location)
    ? (new URL(location).searchParams.get('code') ?? undefined)
    : undefined;
  return { authorize: first.status, next, consentPost: post.status, code };
}
