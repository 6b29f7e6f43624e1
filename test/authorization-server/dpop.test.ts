import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CompactSign,
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  type JWK,
} from 'jose';
import {
  createDpopNonces,
  createDpopProofVerifier,
  createMemoryReplayCache,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import {
  CONFIDENTIAL_SECRET,
  createHarness,
  type Document,
  type Harness,
  hiddenFields,
  newPkce,
  PASSWORD,
} from './harness.ts';

/*
 * RFC 9449 at the co-located authorization server: token requests with proofs (§5), bound
 * refresh tokens of public clients, dpop_jkt on the authorization request (§10), nonces (§8),
 * introspection (§6.2) and metadata (§5.1). Proofs are made with jose as a client would.
 */

type Key = {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
  jkt: string;
};
async function makeKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}
const mine = await makeKey();
const theirs = await makeKey();

let counter = 0;
async function proof(h: Harness, key: Key, extra: Record<string, unknown> = {}): Promise<string> {
  const claims = {
    jti: `as-proof-${++counter}`,
    htm: 'POST',
    htu: `${h.url}/oauth/token`,
    iat: Math.floor(h.clock.now / 1000),
    ...extra,
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })
    .sign(key.privateKey);
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function dpopOn(document: Document): void {
  const upstreams = document.upstreams as Record<string, unknown>[];
  const first = upstreams[0];
  if (first) first.dpop = 'allowed';
  upstreams.push({ name: 'strict', path: '/strict', command: 'node', dpop: 'required' });
  (document.authorization_server.clients as Record<string, unknown>[]).push({
    client_id: 'device-cli',
    redirect_uris: ['http://127.0.0.1/cb'],
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    scope: ['files:read'],
  });
}

/** A person at the user code page, signing in and approving (RFC 8628 §3.3). */
async function approveDevice(h: Harness, userCode: string): Promise<void> {
  const browser = h.browser();
  const form = await browser.get('/oauth/device');
  let response = await browser.postForm('/oauth/device', {
    ...hiddenFields(await form.text()),
    user_code: userCode,
  });
  for (let hop = 0; hop < 6 && response.status === 303; hop++) {
    const location = new URL(response.headers.get('location') ?? '', h.url);
    const page = await browser.get(location.pathname + location.search);
    if (page.status === 303) {
      response = page;
      continue;
    }
    const fields = hiddenFields(await page.text());
    response =
      location.pathname === '/oauth/login'
        ? await browser.postForm('/oauth/login', {
            ...fields,
            username: 'alice',
            password: PASSWORD,
          })
        : await browser.postForm('/oauth/consent', { ...fields, decision: 'allow' });
  }
}

async function harness(nonces = false): Promise<Harness> {
  return createHarness({
    edit: dpopOn,
    deps: (clock) => ({
      dpopProofs: createDpopProofVerifier({
        context: 'token-endpoint',
        replay: createMemoryReplayCache(),
        now: () => clock.now,
        ...(nonces ? { nonces: createDpopNonces({ secret: Buffer.from(HMAC_SECRET) }) } : {}),
      }),
    }),
  });
}

/** Authorization code flow for the public client; the token request carries `dpop`. */
async function codeFlow(
  h: Harness,
  dpop: (() => Promise<string>) | undefined,
  options: { dpopJkt?: string; resource?: string } = {},
) {
  const pkce = newPkce();
  const redirectUri = 'http://127.0.0.1:4567/cb';
  const landed = await h.authorize({
    pkce,
    redirectUri,
    ...(options.resource ? { resource: options.resource } : {}),
    ...(options.dpopJkt ? { extra: { dpop_jkt: options.dpopJkt } } : {}),
  });
  const code = landed.searchParams.get('code') ?? '';
  return h.post(
    '/oauth/token',
    {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: pkce.verifier,
      client_id: 'pre-public',
      resource: options.resource ?? h.resource,
    },
    dpop ? { headers: { dpop: await dpop() } } : {},
  );
}

describe('RFC 9449 at the token endpoint', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('metadata advertises dpop_signing_alg_values_supported (§5.1)', async () => {
    const response = await fetch(`${h.url}/.well-known/oauth-authorization-server`);
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.ok(Array.isArray(metadata.dpop_signing_alg_values_supported));
    assert.ok((metadata.dpop_signing_alg_values_supported as string[]).includes('ES256'));
    assert.ok(!(metadata.dpop_signing_alg_values_supported as string[]).includes('none'));
  });

  test('a code redeemed with a proof yields a DPoP-bound token and a bound refresh token', async () => {
    const issued = await codeFlow(h, () => proof(h, mine));
    assert.equal(issued.status, 200, issued.text);
    assert.equal(issued.body.token_type, 'DPoP');
    const claims = decodeJwt(String(issued.body.access_token));
    assert.deepEqual(claims.cnf, { jkt: mine.jkt });
    const refreshToken = String(issued.body.refresh_token);

    const refresh = (dpop?: string) =>
      h.post(
        '/oauth/token',
        { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'pre-public' },
        dpop ? { headers: { dpop } } : {},
      );
    const withoutProof = await refresh();
    assert.equal(withoutProof.status, 400);
    assert.equal(withoutProof.body.error, 'invalid_grant');
    const otherKey = await refresh(await proof(h, theirs));
    assert.equal(otherKey.status, 400);
    assert.equal(otherKey.body.error, 'invalid_grant');
    // Positive control: the holder of the key refreshes, and the new pair stays bound.
    const sameKey = await refresh(await proof(h, mine));
    assert.equal(sameKey.status, 200, sameKey.text);
    assert.equal(sameKey.body.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(String(sameKey.body.access_token)).cnf, { jkt: mine.jkt });
    const record = await h.store.getRefreshToken(
      (await import('node:crypto')).hash('sha256', String(sameKey.body.refresh_token), 'base64url'),
    );
    assert.equal(record?.dpopJkt, mine.jkt);
  });

  test('introspection reports the binding: cnf.jkt and token_type DPoP (§6.2)', async () => {
    const issued = await codeFlow(h, () => proof(h, mine));
    const answer = await h.post(
      '/oauth/introspect',
      { token: String(issued.body.access_token) },
      { basic: ['pre-confidential', CONFIDENTIAL_SECRET] },
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.body.active, true);
    assert.equal(answer.body.token_type, 'DPoP');
    assert.deepEqual(answer.body.cnf, { jkt: mine.jkt });
  });

  test('without a proof the token stays Bearer, refresh unbound', async () => {
    const issued = await codeFlow(h, undefined);
    assert.equal(issued.status, 200);
    assert.equal(issued.body.token_type, 'Bearer');
    assert.equal(decodeJwt(String(issued.body.access_token)).cnf, undefined);
  });

  test('a resource whose route has DPoP off gets a Bearer token even with a proof', async () => {
    const issued = await codeFlow(h, () => proof(h, mine), { resource: `${h.url}/other` });
    assert.equal(issued.status, 200, issued.text);
    assert.equal(issued.body.token_type, 'Bearer');
    assert.equal(decodeJwt(String(issued.body.access_token)).cnf, undefined);
  });

  test('the device grant with a proof: a bound token, a bound refresh token (RFC 8628 + RFC 9449)', async () => {
    const started = await h.post('/oauth/device_authorization', {
      client_id: 'device-cli',
      resource: h.resource,
      scope: 'files:read',
    });
    assert.equal(started.status, 200, started.text);
    await approveDevice(h, String(started.body.user_code));
    const issued = await h.post(
      '/oauth/token',
      {
        grant_type: DEVICE_GRANT,
        device_code: String(started.body.device_code),
        client_id: 'device-cli',
        resource: h.resource,
      },
      { headers: { dpop: await proof(h, mine) } },
    );
    assert.equal(issued.status, 200, issued.text);
    assert.equal(issued.body.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(String(issued.body.access_token)).cnf, { jkt: mine.jkt });
    const refreshed = await h.post('/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: String(issued.body.refresh_token),
      client_id: 'device-cli',
    });
    assert.equal(refreshed.status, 400, 'the public client refresh token is bound to the key');
    assert.equal(refreshed.body.error, 'invalid_grant');
  });

  test('a route that requires DPoP gets no token without a proof (invalid_dpop_proof), one with', async () => {
    const form = { grant_type: 'client_credentials', resource: `${h.url}/strict` };
    const basic: [string, string] = ['machine', CONFIDENTIAL_SECRET];
    const before = h.eventsNamed('oauth.token.issued').length;
    const refused = await h.post('/oauth/token', form, { basic });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_dpop_proof');
    assert.equal(h.eventsNamed('oauth.token.issued').length, before);
    const issued = await h.post('/oauth/token', form, {
      basic,
      headers: { dpop: await proof(h, mine) },
    });
    assert.equal(issued.status, 200, issued.text);
    assert.equal(issued.body.token_type, 'DPoP');
  });

  test('client_credentials with a proof: bound access token', async () => {
    const issued = await h.post(
      '/oauth/token',
      { grant_type: 'client_credentials', resource: h.resource, scope: 'files:read' },
      { basic: ['machine', CONFIDENTIAL_SECRET], headers: { dpop: await proof(h, mine) } },
    );
    assert.equal(issued.status, 200, issued.text);
    assert.equal(issued.body.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(String(issued.body.access_token)).cnf, { jkt: mine.jkt });
    // The audit trail says the token it issued is bound.
    assert.equal(h.eventsNamed('oauth.token.issued').at(-1)?.sender_constraint, 'dpop');
  });

  describe('bad proofs are 400 invalid_dpop_proof and issue nothing', () => {
    const cases: [string, () => Promise<Record<string, string>>, number, string | undefined][] = [
      [
        'proof for another URL',
        async () => ({ dpop: await proof(h, mine, { htu: `${h.url}/oauth/other` }) }),
        400,
        'invalid_dpop_proof',
      ],
      [
        'proof for GET',
        async () => ({ dpop: await proof(h, mine, { htm: 'GET' }) }),
        400,
        'invalid_dpop_proof',
      ],
      [
        'stale proof',
        async () => ({
          dpop: await proof(h, mine, { iat: Math.floor(h.clock.now / 1000) - 3600 }),
        }),
        400,
        'invalid_dpop_proof',
      ],
      ['not a JWS', async () => ({ dpop: 'garbage' }), 400, 'invalid_dpop_proof'],
      [
        'valid proof (positive control)',
        async () => ({ dpop: await proof(h, mine) }),
        200,
        undefined,
      ],
    ];
    for (const [name, headers, status, error] of cases) {
      test(name, async () => {
        const before = h.eventsNamed('oauth.token.issued').length;
        const answer = await h.post(
          '/oauth/token',
          { grant_type: 'client_credentials', resource: h.resource },
          { basic: ['machine', CONFIDENTIAL_SECRET], headers: await headers() },
        );
        assert.equal(answer.status, status, answer.text);
        assert.equal(answer.body.error, error);
        assert.equal(h.eventsNamed('oauth.token.issued').length, before + (status === 200 ? 1 : 0));
      });
    }
    test('a replayed proof', async () => {
      const once = await proof(h, mine);
      const first = await h.post(
        '/oauth/token',
        { grant_type: 'client_credentials', resource: h.resource },
        { basic: ['machine', CONFIDENTIAL_SECRET], headers: { dpop: once } },
      );
      assert.equal(first.status, 200);
      const again = await h.post(
        '/oauth/token',
        { grant_type: 'client_credentials', resource: h.resource },
        { basic: ['machine', CONFIDENTIAL_SECRET], headers: { dpop: once } },
      );
      assert.equal(again.status, 400);
      assert.equal(again.body.error, 'invalid_dpop_proof');
    });
  });

  describe('dpop_jkt on the authorization request (§10)', () => {
    test('a malformed dpop_jkt is refused', async () => {
      const landed = await h.authorize({ extra: { dpop_jkt: 'not-a-thumbprint' } });
      assert.equal(landed.searchParams.get('error'), 'invalid_request');
    });
    test('the code is redeemed only with the named key', async () => {
      const other = await codeFlow(h, () => proof(h, theirs), { dpopJkt: mine.jkt });
      assert.equal(other.status, 400);
      assert.equal(other.body.error, 'invalid_grant');
      const none = await codeFlow(h, undefined, { dpopJkt: mine.jkt });
      assert.equal(none.status, 400);
      assert.equal(none.body.error, 'invalid_grant');
      const right = await codeFlow(h, () => proof(h, mine), { dpopJkt: mine.jkt });
      assert.equal(right.status, 200, right.text);
      assert.equal(right.body.token_type, 'DPoP');
    });
  });
});

describe('RFC 9449 §8: authorization server nonces', () => {
  let h: Harness;
  before(async () => {
    h = await harness(true);
  });
  after(() => h.close());

  test('use_dpop_nonce with a DPoP-Nonce header, then success with the nonce', async () => {
    const form = { grant_type: 'client_credentials', resource: h.resource };
    const basic: [string, string] = ['machine', CONFIDENTIAL_SECRET];
    const first = await h.post('/oauth/token', form, {
      basic,
      headers: { dpop: await proof(h, mine) },
    });
    assert.equal(first.status, 400);
    assert.equal(first.body.error, 'use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    assert.ok(nonce);
    const second = await h.post('/oauth/token', form, {
      basic,
      headers: { dpop: await proof(h, mine, { nonce }) },
    });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.token_type, 'DPoP');
  });
});

describe('without DPoP on any route', () => {
  test('no dpop_signing_alg_values_supported, and a proof is ignored (Bearer)', async () => {
    const h = await createHarness({
      deps: (clock) => ({
        dpopProofs: createDpopProofVerifier({
          context: 'token-endpoint',
          replay: createMemoryReplayCache(),
          now: () => clock.now,
        }),
      }),
    });
    try {
      const metadata = (await (
        await fetch(`${h.url}/.well-known/oauth-authorization-server`)
      ).json()) as Record<string, unknown>;
      assert.equal(metadata.dpop_signing_alg_values_supported, undefined);
      const issued = await h.post(
        '/oauth/token',
        { grant_type: 'client_credentials', resource: h.resource },
        { basic: ['machine', CONFIDENTIAL_SECRET], headers: { dpop: await proof(h, mine) } },
      );
      assert.equal(issued.status, 200);
      assert.equal(issued.body.token_type, 'Bearer');
    } finally {
      await h.close();
    }
  });
});
