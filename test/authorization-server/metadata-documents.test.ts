/**
 * CM-: client ID metadata documents (draft-ietf-oauth-client-id-metadata-document), fetched from a
 * real loopback server through the SSRF guard under the development switch. Cases in
 * docs/security-cases.md. Each failure is an error page (never a redirect: the redirect URI cannot
 * be trusted without a document), and the table ends with a positive control.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MetadataDocumentResolver } from '../../src/authorization-server/index.ts';
import { RequestError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import { DocumentServer } from './document-server.ts';
import { createHarness, type Harness, hiddenFields, newPkce, PASSWORD } from './harness.ts';

const REDIRECT = 'http://127.0.0.1:7777/callback';

let docs: DocumentServer;
let h: Harness;
before(async () => {
  docs = await new DocumentServer().start();
  h = await createHarness({
    edit: (document) => {
      document.development = { allow_loopback_urls: true };
    },
    // The server's own fetch, with a shorter deadline so the drip case stays quick.
    fetch: createGuardedFetch({ allowLoopback: true, timeoutMs: 1500, maxBytes: 5 * 1024 }),
  });
});
after(async () => {
  await h.close();
  await docs.close();
});

async function authorizeWith(clientId: string, redirectUri = REDIRECT) {
  const pkce = newPkce();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    resource: h.resource,
    state: 'cm',
  });
  const response = await fetch(`${h.url}/oauth/authorize?${query.toString()}`, {
    redirect: 'manual',
  });
  return {
    status: response.status,
    html: await response.text(),
    location: response.headers.get('location'),
  };
}

function assertPage(
  result: { status: number; html: string; location: string | null },
  error: string,
) {
  assert.equal(result.location, null, 'never a redirect');
  assert.equal(result.status, 400, result.html);
  assert.match(result.html, new RegExp(`Error: <code>${error}</code>`));
}

describe('CM-01 client_id URLs that are never fetched', () => {
  const urls: [string, (base: string) => string][] = [
    ['plain http to a public host', () => 'http://client.example/doc.json'],
    ['userinfo', (b) => `${b.replace('http://', 'http://user@')}/u1`],
    ['empty userinfo', (b) => `${b.replace('http://', 'http://@')}/u2`],
    ['an empty fragment', (b) => `${b}/f1#`],
    ['a fragment', (b) => `${b}/f2#x`],
    ['a . segment', (b) => `${b}/./d1`],
    ['a .. segment', (b) => `${b}/a/../d2`],
    ['an encoded . segment', (b) => `${b}/%2e/d3`],
    ['an encoded .. segment', (b) => `${b}/%2E%2e/d4`],
    ['a raw space', (b) => `${b}/d 5`],
    ['a tab', (b) => `${b}/d\t6`],
    ['a line feed', (b) => `${b}/d\n7`],
    ['a backslash', (b) => `${b}\\d8`],
    ['a WHATWG-repaired form http:host/path', (b) => `${b.replace('http://', 'http:')}/d9`],
    ['a WHATWG-repaired form http:/host/path', (b) => `${b.replace('http://', 'http:/')}/d10`],
    ['no path', (b) => `${b}/`],
    ['a query', (b) => `${b}/d11?x=1`],
    ['an ftp URL', () => 'ftp://127.0.0.1/d12'],
  ];
  for (const [name, make] of urls) {
    it(`${name}: invalid_client, nothing fetched`, async () => {
      const before = [...docs.hits.values()].reduce((a, b) => a + b, 0);
      const result = await authorizeWith(make(docs.url));
      assertPage(result, 'invalid_client');
      const afterHits = [...docs.hits.values()].reduce((a, b) => a + b, 0);
      assert.equal(afterHits, before, 'the document server saw nothing');
    });
  }
});

describe('CM: documents that are refused', () => {
  const cases: {
    id: string;
    name: string;
    setup: () => string;
    error: string;
    uncached?: string;
  }[] = [
    {
      id: 'CM-02',
      name: 'document client_id differs from the URL',
      setup: () => docs.document('/m1', { client_id: `${docs.url}/other` }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM-02',
      name: 'document client_id names the same place with another host spelling',
      setup: () =>
        docs.document('/m2', { client_id: `${docs.url.replace('127.0.0.1', 'localhost')}/m2` }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM-02',
      name: 'document client_id with a trailing slash',
      setup: () => docs.document('/m3', { client_id: `${docs.url}/m3/` }),
      error: 'invalid_client_metadata',
    },
    ...['client_secret_basic', 'client_secret_post', 'client_secret_jwt'].map((method) => ({
      id: 'CM-03',
      name: `token_endpoint_auth_method ${method}`,
      setup: () => docs.document(`/s-${method}`, { token_endpoint_auth_method: method }),
      error: 'invalid_client_metadata',
    })),
    {
      id: 'CM-03',
      name: 'a client_secret in the document',
      setup: () => docs.document('/s-secret', { client_secret: 'shh' }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM-04',
      name: 'a private key in jwks',
      setup: () =>
        docs.document('/k1', {
          jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'private' }] },
        }),
      error: 'invalid_client_metadata',
    },
    ...[404, 500, 304, 204, 201].map((status) => ({
      id: 'CM-05',
      name: `status ${status}`,
      setup: () =>
        docs.set(`/st-${status}`, {
          kind: 'raw' as const,
          status,
          body: '{}',
          headers: { 'content-type': 'application/json' },
        }),
      error: 'invalid_client',
      uncached: `/st-${status}`,
    })),
    {
      id: 'CM-06',
      name: 'a 302 to another URL (not followed)',
      setup: () => {
        docs.document('/target');
        return docs.set('/redirecting', {
          kind: 'raw',
          status: 302,
          body: '',
          headers: { location: `${docs.url}/target` },
        });
      },
      error: 'invalid_client',
    },
    {
      id: 'CM-07',
      name: 'not JSON (the parse error is not shown)',
      setup: () =>
        docs.set('/notjson', {
          kind: 'raw',
          status: 200,
          body: '{"client_id": SECRET-MARKER',
          headers: { 'content-type': 'application/json' },
        }),
      error: 'invalid_client',
    },
    {
      id: 'CM-07',
      name: 'a JSON array',
      setup: () => docs.set('/array', { kind: 'json', body: [1, 2] }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM-07',
      name: 'wrong content type',
      setup: () => docs.document('/texty', {}, { 'content-type': 'text/plain' }),
      error: 'invalid_client',
    },
    {
      id: 'CM-08',
      name: 'chunked, over 5 KiB, no length',
      setup: () => docs.set('/big-chunked', { kind: 'chunked', bytes: 6 * 1024 }),
      error: 'invalid_client',
    },
    {
      id: 'CM-08',
      name: 'declared Content-Length 999999',
      setup: () =>
        docs.set('/big-declared', {
          kind: 'raw',
          status: 200,
          body: 'x'.repeat(999_999),
          headers: { 'content-type': 'application/json' },
        }),
      error: 'invalid_client',
    },
    {
      id: 'CM-08',
      name: 'gzip bomb (small on the wire, 1 MiB decoded)',
      setup: () => docs.set('/bomb', { kind: 'gzip-bomb', bytes: 1024 * 1024 }),
      error: 'invalid_client',
    },
    {
      id: 'CM-11',
      name: 'logo_uri on plain http',
      setup: () => docs.document('/logo', { logo_uri: 'http://evil.example/logo.png' }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM-11',
      name: 'jwks_uri on plain http',
      setup: () => docs.document('/jwks-uri', { jwks_uri: 'http://169.254.169.254/keys' }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM',
      name: 'redirect_uris missing',
      setup: () => docs.document('/no-redirects', { redirect_uris: undefined }),
      error: 'invalid_redirect_uri',
    },
    {
      id: 'CM',
      name: 'grant type client_credentials',
      setup: () => docs.document('/cc', { grant_types: ['client_credentials'] }),
      error: 'invalid_client_metadata',
    },
    {
      id: 'CM-12',
      name: 'a server that drips one byte at a time (deadline)',
      setup: () => docs.set('/drip', { kind: 'drip' }),
      error: 'invalid_client',
    },
  ];

  for (const testCase of cases) {
    it(`${testCase.id} ${testCase.name}`, async () => {
      const url = testCase.setup();
      const result = await authorizeWith(url);
      assertPage(result, testCase.error);
      assert.doesNotMatch(result.html, /SECRET-MARKER/);
      if (testCase.uncached !== undefined) {
        const hits = docs.hitsOf(testCase.uncached);
        assertPage(await authorizeWith(url), testCase.error);
        assert.equal(docs.hitsOf(testCase.uncached), hits + 1, 'failures are never cached');
      }
    });
  }

  it('CM-06 the redirect target was never fetched', () => {
    assert.equal(docs.hitsOf('/target'), 0);
  });

  it('CM-10 a redirect_uri the document does not list: error page, no redirect', async () => {
    const url = docs.document('/cm10');
    assertPage(await authorizeWith(url, 'http://127.0.0.1:7777/elsewhere'), 'invalid_request');
  });

  it('CM-12 the server stays responsive while a document drips', async () => {
    const slow = authorizeWith(docs.set('/drip2', { kind: 'drip' }));
    const started = Date.now();
    const metadata = await fetch(`${h.url}/.well-known/oauth-authorization-server`);
    assert.equal(metadata.status, 200);
    assert.ok(Date.now() - started < 1000, 'answered while the fetch was pending');
    assertPage(await slow, 'invalid_client');
  });

  it('positive control: a valid document proceeds to sign-in', async () => {
    const url = docs.document('/valid');
    const result = await authorizeWith(url);
    assert.equal(result.status, 303, result.html);
    assert.match(result.location ?? '', /^\/oauth\/login\?interaction=/);
  });
});

describe('CM-09 caching', () => {
  it('a tiny max-age is raised to the 60 s floor; then the document is fetched again', async () => {
    const url = docs.document('/c-tiny', {}, { 'cache-control': 'max-age=1' });
    await authorizeWith(url);
    h.clock.advance(59_000);
    await authorizeWith(url);
    assert.equal(docs.hitsOf('/c-tiny'), 1);
    h.clock.advance(2_000);
    await authorizeWith(url);
    assert.equal(docs.hitsOf('/c-tiny'), 2);
  });

  it('a huge max-age is cut to the 24 h ceiling', async () => {
    const url = docs.document('/c-huge', {}, { 'cache-control': 'max-age=999999999' });
    await authorizeWith(url);
    h.clock.advance(86_399_000);
    await authorizeWith(url);
    assert.equal(docs.hitsOf('/c-huge'), 1);
    h.clock.advance(2_000);
    await authorizeWith(url);
    assert.equal(docs.hitsOf('/c-huge'), 2);
  });

  it('no max-age: 5 minutes; no-store: not cached at all', async () => {
    const plain = docs.document('/c-plain');
    await authorizeWith(plain);
    h.clock.advance(299_000);
    await authorizeWith(plain);
    assert.equal(docs.hitsOf('/c-plain'), 1);
    const nostore = docs.document('/c-nostore', {}, { 'cache-control': 'no-store' });
    await authorizeWith(nostore);
    await authorizeWith(nostore);
    assert.equal(docs.hitsOf('/c-nostore'), 2);
  });

  it('two concurrent first requests share one fetch, and each still checks its own redirect URI', async () => {
    docs.set('/c-slow', {
      kind: 'json',
      delayMs: 300,
      body: {
        client_id: `${docs.url}/c-slow`,
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
      },
    });
    const url = `${docs.url}/c-slow`;
    const [good, bad] = await Promise.all([
      authorizeWith(url),
      authorizeWith(url, 'http://127.0.0.1:7777/not-listed'),
    ]);
    assert.equal(docs.hitsOf('/c-slow'), 1, 'coalesced');
    assert.equal(good.status, 303);
    assertPage(bad, 'invalid_request');
  });
});

describe('CM: a document client through sign-in, consent and tokens', () => {
  it('the consent page names the client, its host and the localhost redirect; the code redeems', async () => {
    const url = docs.document('/flow', { client_name: '<b>Doc</b> Client', scope: 'files:read' });
    const pkce = newPkce();
    const browser = h.browser();
    const first = await browser.get(
      `/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: url,
        redirect_uri: REDIRECT,
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
        resource: h.resource,
      }).toString()}`,
    );
    const login = await browser.get(first.headers.get('location') ?? '');
    const signedIn = await browser.postForm('/oauth/login', {
      ...hiddenFields(await login.text()),
      username: 'alice',
      password: PASSWORD,
    });
    const consent = await browser.get(signedIn.headers.get('location') ?? '');
    const html = await consent.text();
    assert.match(html, /&lt;b&gt;Doc&lt;\/b&gt; Client/, 'client name escaped');
    assert.doesNotMatch(html, /<b>Doc<\/b>/);
    assert.match(html, /published by <strong>127\.0\.0\.1:\d+<\/strong>/);
    assert.match(html, /Sends you back to<\/dt><dd><strong>127\.0\.0\.1:7777<\/strong>/);
    assert.match(html, /class="warning"/, 'localhost redirect warning');
    const decided = await browser.postForm('/oauth/consent', {
      ...hiddenFields(html),
      decision: 'allow',
    });
    const landed = new URL(decided.headers.get('location') ?? '');
    const tokens = await h.token({
      grant_type: 'authorization_code',
      code: landed.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT,
      code_verifier: pkce.verifier,
      client_id: url,
    });
    assert.equal(tokens.status, 200, tokens.text);
    assert.equal(tokens.body.scope, 'files:read');
    const secret = await h.token({
      grant_type: 'refresh_token',
      refresh_token: String(tokens.body.refresh_token),
      client_id: url,
      client_secret: 'anything',
    });
    assert.equal(secret.status, 401, 'a document client never authenticates with a secret');
  });
});

describe('CM: loopback documents need the development switch', () => {
  let strict: Harness;
  before(async () => {
    strict = await createHarness();
  });
  after(async () => {
    await strict.close();
  });

  it('without development.allow_loopback_urls a loopback client_id is refused unfetched', async () => {
    const url = docs.document('/strict');
    const pkce = newPkce();
    const response = await fetch(
      `${strict.url}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: url,
        redirect_uri: REDIRECT,
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
        resource: strict.resource,
      }).toString()}`,
      { redirect: 'manual' },
    );
    assert.equal(response.status, 400);
    assert.match(await response.text(), /development\.allow_loopback_urls/);
    assert.equal(docs.hitsOf('/strict'), 0);
  });
});

describe('CM-12 bounded concurrency of document fetches', () => {
  it('beyond the per-host cap new URLs are refused at once (503) while the slow ones run out', async () => {
    const resolver = new MetadataDocumentResolver({
      fetch: createGuardedFetch({ allowLoopback: true, timeoutMs: 800, maxBytes: 5 * 1024 }),
      now: () => Date.now(),
      allowLoopback: true,
      allowedScopes: ['files:read'],
      maxInFlightPerHost: 2,
    });
    const slow = [1, 2].map((n) => resolver.resolve(docs.set(`/slow-${n}`, { kind: 'drip' })));
    const started = Date.now();
    await assert.rejects(resolver.resolve(docs.set('/slow-3', { kind: 'drip' })), (error) => {
      assert.ok(error instanceof RequestError);
      assert.equal(error.code, 'CapacityExceeded');
      return true;
    });
    assert.ok(Date.now() - started < 200, 'refused without waiting');
    assert.equal(docs.hitsOf('/slow-3'), 0);
    for (const pending of slow) await assert.rejects(pending);
    const url = docs.document('/after-the-flood');
    assert.equal((await resolver.resolve(url)).clientId, url, 'positive control: capacity is back');
  });
});
