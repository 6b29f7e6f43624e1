/**
 * With remote_mcp.admin_bind_address set, the admin page of the co-located authorization server
 * is served on the admin listener (with its sign-in) and not on the public one; its forms take
 * only this listener's Origin and a CSRF token; only users with the admin role get the page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { setUserPassword } from '../../src/authorization-server/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import {
  gatewayDocument,
  loadTestConfig,
  memoryLogger,
  stdioTestUpstream,
} from '../helpers/gateway.ts';

const PASSWORD = 'correct horse battery';

/** A cookie jar over fetch, following nothing (each redirect is looked at). */
class Jar {
  private readonly cookies = new Map<string, string>();
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) {
      headers.set(
        'cookie',
        [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
      );
    }
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const index = (pair ?? '').indexOf('=');
      this.cookies.set((pair ?? '').slice(0, index), (pair ?? '').slice(index + 1));
    }
    return response;
  }
  form(url: string, fields: Record<string, string>, origin: string): Promise<Response> {
    return this.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      body: new URLSearchParams(fields),
    });
  }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

describe('the admin page on the admin listener', () => {
  let running: RunningPortcullis;
  let admin: string;
  const store = new MemoryStore();

  before(async () => {
    const document = gatewayDocument({
      auth: 'none',
      upstreams: [stdioTestUpstream()],
      remoteMcp: { admin_bind_address: '127.0.0.1:0' },
    });
    const loaded = loadTestConfig({
      ...document,
      authorization_server: { enabled: true, issuer: 'http://127.0.0.1:8080' },
    });
    running = await startPortcullis(loaded, { logger: memoryLogger().logger, audit: false, store });
    admin = running.adminUrl ?? '';
    assert.ok(admin);
    await setUserPassword(store, 'root', PASSWORD, Date.now(), ['admin']);
    await setUserPassword(store, 'plain', PASSWORD, Date.now());
  });

  after(async () => {
    await running?.close();
    await store.close();
  });

  async function signIn(jar: Jar, username: string): Promise<Response> {
    const page = await jar.fetch(`${admin}/oauth/login`);
    assert.equal(page.status, 200);
    return jar.form(
      `${admin}/oauth/login`,
      { csrf: csrfOf(await page.text()), username, password: PASSWORD },
      admin,
    );
  }

  it('is not on the public listener', async () => {
    const response = await fetch(`${running.url}/oauth/admin`, { redirect: 'manual' });
    assert.equal(response.status, 404);
  });

  it('signs in there and continues to the admin page; actions need the CSRF token and this origin', async () => {
    const jar = new Jar();
    const anonymous = await jar.fetch(`${admin}/oauth/admin`);
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get('location'), '/oauth/login');
    const signedIn = await signIn(jar, 'root');
    assert.equal(signedIn.status, 303);
    assert.equal(signedIn.headers.get('location'), '/oauth/admin');
    const page = await jar.fetch(`${admin}/oauth/admin`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<h1>Administration<\/h1>/);
    assert.match(html, /<strong>plain<\/strong>/);

    const refusals: [string, Record<string, string>, string, number][] = [
      ['no CSRF token', { action: 'user-disable', target: 'plain' }, admin, 403],
      [
        'a foreign origin',
        { csrf: csrfOf(html), action: 'user-disable', target: 'plain' },
        'https://evil.example',
        403,
      ],
      [
        'an unknown user',
        { csrf: csrfOf(html), action: 'user-disable', target: 'ghost' },
        admin,
        404,
      ],
      ['an unknown action', { csrf: csrfOf(html), action: 'drop-tables', target: 'x' }, admin, 400],
      ['a prototype key', { csrf: csrfOf(html), action: 'constructor', target: 'x' }, admin, 400],
    ];
    for (const [name, fields, origin, status] of refusals) {
      const refused = await jar.form(`${admin}/oauth/admin`, fields, origin);
      assert.equal(refused.status, status, name);
      assert.equal((await store.getUser('plain'))?.disabled, false, `${name}: nothing changed`);
    }
    // Positive control: the same action with the token, from this origin.
    const done = await jar.form(
      `${admin}/oauth/admin`,
      { csrf: csrfOf(html), action: 'user-disable', target: 'plain' },
      admin,
    );
    assert.equal(done.status, 303);
    const location = done.headers.get('location') ?? '';
    assert.equal(location, '/oauth/admin?done=user-disable&id=plain&n=0');
    const said = await (await jar.fetch(`${admin}${location}`)).text();
    assert.match(said, /User plain disabled; 0 grant\(s\) revoked\./);
    // A crafted link cannot put words of its own on the page.
    const crafted = await (
      await jar.fetch(
        `${admin}/oauth/admin?done=${encodeURIComponent('Your account is locked')}&id=x`,
      )
    ).text();
    assert.doesNotMatch(crafted, /Your account is locked/);
    assert.equal((await store.getUser('plain'))?.disabled, true);
    const plain = await store.getUser('plain');
    assert.ok(plain);
    await store.putUser({ ...plain, disabled: false });
  });

  it('refuses a signed-in user without the admin role', async () => {
    const jar = new Jar();
    assert.equal((await signIn(jar, 'plain')).status, 303);
    const page = await jar.fetch(`${admin}/oauth/admin`);
    assert.equal(page.status, 403);
    assert.match(await page.text(), /admin role/);
  });

  it('keeps serving metrics and probes there', async () => {
    assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  });
});
