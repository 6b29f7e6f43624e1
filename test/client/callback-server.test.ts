import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { startCallbackServer } from '../../src/client/index.ts';
import { isClientError } from '../../src/errors/index.ts';

const ISSUER = 'https://as.example';

async function get(url: string): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Sends a GET in small pieces over a raw socket, to check the whole request is read. */
function fragmented(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (let i = 0; i < request.length; i += 7) {
        socket.write(request.slice(i, i + 7));
        await tick();
      }
    });
  });
}

describe('loopback callback (RFC 8252 §7.3, RFC 9207, MCP state handling)', () => {
  it('binds 127.0.0.1 on a real port before anything else happens', async () => {
    const callback = await startCallbackServer();
    try {
      assert.match(callback.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      assert.ok(callback.port > 0);
    } finally {
      await callback.close();
    }
  });

  it('refuses a wrong, missing or repeated state, keeps waiting, then accepts the right one once', async () => {
    const callback = await startCallbackServer();
    const wait = callback.waitForCode({ state: 'good-state', issuer: ISSUER, issRequired: false });
    const base = callback.redirectUri;
    const wrong = await get(`${base}?code=stolen&state=bad-state`);
    assert.equal(wrong.status, 400);
    assert.match(wrong.body, /state mismatch/);
    const missing = await get(`${base}?code=stolen`);
    assert.equal(missing.status, 400);
    const repeated = await get(`${base}?code=c&state=good-state&state=good-state`);
    assert.equal(repeated.status, 400);
    const other = await get(`http://127.0.0.1:${callback.port}/elsewhere?code=c&state=good-state`);
    assert.equal(other.status, 404);
    const ok = await get(`${base}?code=the-code&state=good-state`);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /You may close this window/);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    assert.match(ok.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(await wait, 'the-code');
    // Single use: the listener is gone.
    await assert.rejects(get(`${base}?code=again&state=good-state`));
  });

  it('reads a request that arrives in fragments', async () => {
    const callback = await startCallbackServer();
    const wait = callback.waitForCode({ state: 's1', issuer: ISSUER, issRequired: false });
    const answer = await fragmented(callback.port, '/callback?code=frag-code&state=s1');
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.equal(await wait, 'frag-code');
  });

  const issCases: { name: string; query: string; issRequired: boolean; ok: boolean }[] = [
    {
      name: 'iss matches (advertised)',
      query: `&iss=${encodeURIComponent(ISSUER)}`,
      issRequired: true,
      ok: true,
    },
    { name: 'iss missing but advertised', query: '', issRequired: true, ok: false },
    { name: 'iss wrong', query: '&iss=https%3A%2F%2Fevil.example', issRequired: false, ok: false },
    {
      name: 'iss differs only by a trailing slash (no normalization)',
      query: `&iss=${encodeURIComponent(`${ISSUER}/`)}`,
      issRequired: false,
      ok: false,
    },
    { name: 'iss absent, not advertised', query: '', issRequired: false, ok: true },
  ];
  for (const c of issCases) {
    it(`RFC 9207: ${c.name}`, async () => {
      const callback = await startCallbackServer();
      const wait = callback.waitForCode({
        state: 'st',
        issuer: ISSUER,
        issRequired: c.issRequired,
      });
      wait.catch(() => undefined);
      const response = await get(`${callback.redirectUri}?code=k&state=st${c.query}`);
      if (c.ok) {
        assert.equal(response.status, 200);
        assert.equal(await wait, 'k');
      } else {
        assert.equal(response.status, 400);
        await assert.rejects(wait, (e) => isClientError(e) && e.code === 'ClientIssuerMismatch');
      }
    });
  }

  it('an error response with the right state ends the wait with ClientAuthorizationFailed', async () => {
    const callback = await startCallbackServer();
    const wait = callback.waitForCode({ state: 'st', issuer: ISSUER, issRequired: false });
    wait.catch(() => undefined);
    await get(`${callback.redirectUri}?error=access_denied&error_description=no%0Athanks&state=st`);
    await assert.rejects(
      wait,
      (e) =>
        isClientError(e) &&
        e.code === 'ClientAuthorizationFailed' &&
        /access_denied: no\?thanks/.test(e.message),
    );
  });

  it('times out with ClientAuthorizationTimeout', async () => {
    const callback = await startCallbackServer();
    await assert.rejects(
      callback.waitForCode({ state: 'st', issuer: ISSUER, issRequired: false, timeoutMs: 20 }),
      (e) => isClientError(e) && e.code === 'ClientAuthorizationTimeout',
    );
  });

  it('closing abandons a pending wait', async () => {
    const callback = await startCallbackServer();
    const wait = callback.waitForCode({ state: 'st', issuer: ISSUER, issRequired: false });
    await callback.close();
    await assert.rejects(wait, (e) => isClientError(e) && e.code === 'ClientAuthorizationFailed');
  });

  it('a taken --callback-port is reported as ClientCallbackUnavailable', async () => {
    const first = await startCallbackServer();
    try {
      await assert.rejects(
        startCallbackServer({ port: first.port }),
        (e) => isClientError(e) && e.code === 'ClientCallbackUnavailable',
      );
    } finally {
      await first.close();
    }
  });
});
