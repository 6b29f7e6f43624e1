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
import {
  authorizeQuery,
  baseDocument,
  createHarness,
  type Harness,
  newPkce,
  PASSWORD,
  register,
} from './harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness({
    edit: (document) => {
      const as = document.authorization_server as { clients: Record<string, unknown>[] };
      as.clients.push({
        client_id: 'pre-cookie-path',
        redirect_uris: ['http://127.0.0.1/oauth/cb'],
      });
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
