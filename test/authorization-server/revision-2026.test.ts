/**
 * The authorization server under the MCP 2026-07-28 authorization rules:
 * - RFC 9207 `iss` on every authorization response that goes back to the client, errors included;
 * - `application_type` in registration and metadata documents (OpenID Connect Dynamic Client
 *   Registration §2, RFC 8252 §7.3);
 * - a metadata document's multi-valued `token_endpoint_auth_methods_supported` (client ID metadata
 *   document draft §6) needs a method in common with ours;
 * - a dead refresh token is invalid_grant, whatever else the request asks (RFC 6749 §5.2).
 * Every table ends with a positive control. Cases AZ-17, RG-09, CM-13 and RT-12 in
 * docs/security-cases.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGuardedFetch } from '../../src/net/index.ts';
import { DocumentServer } from './document-server.ts';
import {
  authorizeQuery,
  type Browser,
  createHarness,
  type Harness,
  newPkce,
  PASSWORD,
  register,
  type TokenBody,
} from './harness.ts';

describe('AZ-17 RFC 9207: iss on every authorization response', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  /** A dynamic client that alice has granted once, and the browser she did it in. */
  async function grantedClient(
    redirectUri: string,
  ): Promise<{ clientId: string; signedIn: Browser }> {
    h.clock.advance(3600_000);
    const registered = await register(h, {
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const clientId = String(registered.body.client_id);
    const signedIn = h.browser();
    const granted = await h.authorize({ clientId, redirectUri, browser: signedIn });
    assert.ok(granted.searchParams.get('code'));
    return { clientId, signedIn };
  }

  const errorAt = async (extra: Record<string, string>, scope?: string) => {
    const response = await h
      .browser()
      .get(
        `/oauth/authorize?${authorizeQuery(h, { state: 'st-1', extra, ...(scope ? { scope } : {}) })}`,
      );
    assert.equal(response.status, 303, await response.text());
    return new URL(response.headers.get('location') ?? '');
  };

  const cases: readonly {
    readonly name: string;
    readonly redirect: string;
    readonly error: string | undefined;
    readonly run: () => Promise<URL>;
  }[] = [
    {
      name: 'authorize error: a scope the client may not ask',
      redirect: 'http://127.0.0.1:4567/cb',
      error: 'invalid_scope',
      run: () => errorAt({}, 'admin'),
    },
    {
      name: 'authorize error: response_type token',
      redirect: 'http://127.0.0.1:4567/cb',
      error: 'unsupported_response_type',
      run: () => errorAt({ response_type: 'token' }),
    },
    {
      name: 'authorize error: PKCE method plain',
      redirect: 'http://127.0.0.1:4567/cb',
      error: 'invalid_request',
      run: () => errorAt({ code_challenge_method: 'plain' }),
    },
    {
      name: 'authorize error: a resource that is not ours',
      redirect: 'http://127.0.0.1:4567/cb',
      error: 'invalid_target',
      run: () => errorAt({ resource: 'https://elsewhere.example/mcp' }),
    },
    {
      name: 'consent denied',
      redirect: 'http://127.0.0.1:4567/cb',
      error: 'access_denied',
      run: () => h.authorize({ decision: 'deny', state: 'st-1' }),
    },
    {
      name: 'an error deferred until sign-in, for a client the person granted before',
      redirect: 'https://deferred.example/cb',
      error: 'invalid_scope',
      run: async () => {
        const { clientId } = await grantedClient('https://deferred.example/cb');
        const browser = h.browser();
        const first = await browser.get(
          `/oauth/authorize?${authorizeQuery(h, { clientId, redirectUri: 'https://deferred.example/cb', scope: 'nope', state: 'st-1' })}`,
        );
        assert.match(first.headers.get('location') ?? '', /^\/oauth\/login\?/);
        return browser.completeFlow(first, 'alice', PASSWORD, 'allow');
      },
    },
    {
      name: 'an error for a granted client, already signed in: at once',
      redirect: 'https://signed-in.example/cb',
      error: 'invalid_scope',
      run: async () => {
        const { clientId, signedIn } = await grantedClient('https://signed-in.example/cb');
        const response = await signedIn.get(
          `/oauth/authorize?${authorizeQuery(h, { clientId, redirectUri: 'https://signed-in.example/cb', scope: 'nope', state: 'st-1' })}`,
        );
        assert.equal(response.status, 303);
        return new URL(response.headers.get('location') ?? '');
      },
    },
    {
      name: 'positive control: consent remembered, the code goes back at once',
      redirect: 'https://app.example/cb',
      error: undefined,
      run: async () => {
        const signedIn = h.browser();
        assert.ok(
          (
            await h.authorize({ browser: signedIn, redirectUri: 'https://app.example/cb' })
          ).searchParams.get('code'),
        );
        const response = await signedIn.get(
          `/oauth/authorize?${authorizeQuery(h, { state: 'st-1', redirectUri: 'https://app.example/cb' })}`,
        );
        // Through the consent step, which finds the consent remembered and shows no page.
        assert.match(response.headers.get('location') ?? '', /^\/oauth\/consent\?/);
        const consent = await signedIn.get(response.headers.get('location') ?? '');
        assert.equal(consent.status, 303);
        return new URL(consent.headers.get('location') ?? '');
      },
    },
    {
      name: 'positive control: a code after sign-in and consent',
      redirect: 'http://127.0.0.1:4567/cb',
      error: undefined,
      run: () => h.authorize({ state: 'st-1' }),
    },
  ];

  for (const { name, redirect, error, run } of cases) {
    it(`${name}: back to the client with exactly one iss`, async () => {
      const landed = await run();
      assert.equal(`${landed.origin}${landed.pathname}`, redirect);
      assert.deepEqual(landed.searchParams.getAll('iss'), [h.issuer]);
      assert.equal(landed.searchParams.get('state'), 'st-1');
      assert.equal(landed.searchParams.get('error'), error ?? null);
      assert.equal(landed.searchParams.has('code'), error === undefined);
    });
  }

  it('the metadata says so (RFC 9207 §3)', async () => {
    const metadata = (await (
      await fetch(`${h.url}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
  });
});

describe('RG-09 application_type in registration', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  const LOOPBACK = 'http://127.0.0.1:33418/callback';
  const WEB = 'https://app.example/callback';
  const refusals: readonly [string, Record<string, unknown>, string][] = [
    [
      'native with an https redirect URI',
      { application_type: 'native', redirect_uris: [WEB] },
      'invalid_redirect_uri',
    ],
    [
      'native with loopback and https mixed',
      { application_type: 'native', redirect_uris: [LOOPBACK, WEB] },
      'invalid_redirect_uri',
    ],
    [
      'native with a private-use scheme (refused for every client)',
      { application_type: 'native', redirect_uris: ['com.example.app:/cb'] },
      'invalid_redirect_uri',
    ],
    [
      'web with a loopback redirect URI',
      { application_type: 'web', redirect_uris: [LOOPBACK] },
      'invalid_redirect_uri',
    ],
    [
      'web with https to localhost',
      { application_type: 'web', redirect_uris: ['https://localhost/cb'] },
      'invalid_redirect_uri',
    ],
    [
      'web with https and loopback mixed',
      { application_type: 'web', redirect_uris: [WEB, LOOPBACK] },
      'invalid_redirect_uri',
    ],
    [
      'an unknown application_type',
      { application_type: 'desktop', redirect_uris: [LOOPBACK] },
      'invalid_client_metadata',
    ],
    [
      'application_type not a string',
      { application_type: 1, redirect_uris: [LOOPBACK] },
      'invalid_client_metadata',
    ],
    [
      'application_type in upper case',
      { application_type: 'NATIVE', redirect_uris: [LOOPBACK] },
      'invalid_client_metadata',
    ],
  ];
  for (const [name, metadata, error] of refusals) {
    it(`${name}: 400 ${error}, nothing registered`, async () => {
      h.clock.advance(3600_000);
      const before = await h.store.countClients();
      const refused = await register(h, { token_endpoint_auth_method: 'none', ...metadata });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error, error);
      assert.equal(refused.body.client_id, undefined);
      assert.ok((await h.store.countClients()) <= before);
    });
  }

  const accepted: readonly [string, Record<string, unknown>, string | undefined][] = [
    [
      'positive control: native with loopback redirect URIs',
      { application_type: 'native', redirect_uris: [LOOPBACK, 'http://[::1]/cb'] },
      'native',
    ],
    [
      'positive control: web with https redirect URIs',
      { application_type: 'web', redirect_uris: [WEB] },
      'web',
    ],
    [
      'positive control: absent, loopback only: native is inferred',
      { redirect_uris: [LOOPBACK] },
      'native',
    ],
    ['positive control: absent, https only: web is inferred', { redirect_uris: [WEB] }, 'web'],
    [
      'positive control: absent, both kinds: left unset, as before',
      { redirect_uris: [LOOPBACK, WEB] },
      undefined,
    ],
  ];
  for (const [name, metadata, type] of accepted) {
    it(`${name} (registered as ${type ?? 'no type'})`, async () => {
      h.clock.advance(3600_000);
      const registered = await register(h, { token_endpoint_auth_method: 'none', ...metadata });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      assert.equal(registered.body.application_type, type);
    });
  }
});

describe('CM-13 client ID metadata documents: token endpoint auth methods (and RG-09 application_type)', () => {
  let docs: DocumentServer;
  let h: Harness;
  before(async () => {
    docs = await new DocumentServer().start();
    h = await createHarness({
      edit: (document) => {
        document.development = { allow_loopback_urls: true };
      },
      fetch: createGuardedFetch({ allowLoopback: true, timeoutMs: 5000, maxBytes: 5 * 1024 }),
    });
  });
  after(async () => {
    await h.close();
    await docs.close();
  });

  async function authorizeWith(clientId: string) {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: 'http://127.0.0.1:7777/callback',
      code_challenge: newPkce().challenge,
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

  const cases: readonly {
    readonly name: string;
    readonly overrides: Record<string, unknown>;
    readonly error: string | undefined;
  }[] = [
    {
      name: 'lists only methods we do not offer',
      overrides: {
        token_endpoint_auth_method: undefined,
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'tls_client_auth'],
      },
      error: 'unauthorized_client',
    },
    {
      name: 'lists only shared-secret methods (no secret can be in a document)',
      overrides: {
        token_endpoint_auth_method: undefined,
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      },
      error: 'unauthorized_client',
    },
    {
      name: 'both members, private_key_jwt alone',
      overrides: {
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      },
      error: 'unauthorized_client',
    },
    {
      name: 'an empty list (not the same as leaving it out)',
      overrides: { token_endpoint_auth_methods_supported: [] },
      error: 'invalid_client_metadata',
    },
    {
      name: 'a string, not a list',
      overrides: { token_endpoint_auth_methods_supported: 'none' },
      error: 'invalid_client_metadata',
    },
    {
      name: 'token_endpoint_auth_method not among the listed methods',
      overrides: {
        token_endpoint_auth_method: 'none',
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      },
      error: 'invalid_client_metadata',
    },
    {
      name: 'application_type web with a loopback redirect URI',
      overrides: { application_type: 'web' },
      error: 'invalid_redirect_uri',
    },
    {
      name: 'positive control: the list shares none with us',
      overrides: {
        token_endpoint_auth_method: 'none',
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      },
      error: undefined,
    },
    {
      name: 'positive control: the list alone, with none',
      overrides: {
        token_endpoint_auth_method: undefined,
        token_endpoint_auth_methods_supported: ['none'],
        application_type: 'native',
      },
      error: undefined,
    },
  ];

  cases.forEach(({ name, overrides, error }, index) => {
    it(`${name}: ${error ?? 'on to sign-in'}`, async () => {
      const url = docs.document(`/auth-methods-${index}`, overrides);
      const result = await authorizeWith(url);
      if (error === undefined) {
        assert.equal(result.status, 303, result.html);
        assert.match(result.location ?? '', /^\/oauth\/login\?interaction=/);
        return;
      }
      assert.equal(result.location, null, 'an error page, never a redirect');
      assert.equal(result.status, 400, result.html);
      assert.match(result.html, new RegExp(`Error: <code>${error}</code>`));
    });
  });
});

describe('RT-12 a dead refresh token is invalid_grant on every path', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({
      edit: (document) => {
        document.authorization_server.refresh_token_ttl_seconds = 3600;
        document.authorization_server.refresh_token_max_lifetime_seconds = 7200;
      },
    });
  });
  after(async () => {
    await h.close();
  });

  const refresh = (token: string | undefined, extra: Record<string, string> = {}) =>
    h.token({
      grant_type: 'refresh_token',
      refresh_token: token,
      client_id: 'pre-public',
      ...extra,
    });
  const issued = () =>
    h.eventsNamed('oauth.token.issued').filter((event) => event.grant_type === 'refresh_token')
      .length;

  const WIDER = { scope: 'files:read admin' };
  const cases: readonly {
    readonly name: string;
    /** Makes the token dead (or not) and returns the one to present. */
    readonly kill: (tokens: TokenBody) => Promise<string>;
    readonly extra?: () => Record<string, string>;
  }[] = [
    { name: 'unknown', kill: async () => 'A'.repeat(43) },
    { name: 'unknown, asking a wider scope', kill: async () => 'B'.repeat(43), extra: () => WIDER },
    {
      name: 'idle-expired',
      kill: async (tokens) => {
        h.clock.advance(3601_000);
        return tokens.refresh_token ?? '';
      },
    },
    {
      name: 'idle-expired, asking a wider scope',
      kill: async (tokens) => {
        h.clock.advance(3601_000);
        return tokens.refresh_token ?? '';
      },
      extra: () => WIDER,
    },
    {
      name: 'idle-expired, naming another resource',
      kill: async (tokens) => {
        h.clock.advance(3601_000);
        return tokens.refresh_token ?? '';
      },
      extra: () => ({ resource: `${h.url}/other` }),
    },
    {
      name: 'past the family lifetime though recently rotated, asking a wider scope',
      kill: async (tokens) => {
        let current = tokens;
        for (let step = 0; step < 2; step++) {
          h.clock.advance(3000_000);
          const next = await refresh(current.refresh_token);
          assert.equal(next.status, 200);
          current = next.body as unknown as TokenBody;
        }
        h.clock.advance(1300_000);
        return current.refresh_token ?? '';
      },
      extra: () => WIDER,
    },
    {
      name: 'revoked at the revocation endpoint, asking a wider scope',
      kill: async (tokens) => {
        const revoked = await h.post('/oauth/revoke', {
          token: tokens.refresh_token,
          client_id: 'pre-public',
        });
        assert.equal(revoked.status, 200);
        return tokens.refresh_token ?? '';
      },
      extra: () => WIDER,
    },
    {
      name: 'rotated and reused after the grace window, asking a wider scope',
      kill: async (tokens) => {
        assert.equal((await refresh(tokens.refresh_token)).status, 200);
        h.clock.advance(11_000);
        return tokens.refresh_token ?? '';
      },
      extra: () => WIDER,
    },
    {
      name: 'rotated and reused after the grace window, naming another resource',
      kill: async (tokens) => {
        assert.equal((await refresh(tokens.refresh_token)).status, 200);
        h.clock.advance(11_000);
        return tokens.refresh_token ?? '';
      },
      extra: () => ({ resource: `${h.url}/other` }),
    },
  ];

  for (const { name, kill, extra } of cases) {
    it(`${name}: 400 invalid_grant, no token issued`, async () => {
      const tokens = await h.obtainTokens();
      const presented = await kill(tokens);
      const before = issued();
      const refused = await refresh(presented, extra?.() ?? {});
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.body.error, 'invalid_grant');
      assert.equal(refused.body.access_token, undefined);
      assert.equal(issued(), before, 'no token issued');
    });
  }

  it('a reused rotated token revokes its family even when it asks a wider scope', async () => {
    const tokens = await h.obtainTokens();
    const rotated = await refresh(tokens.refresh_token);
    assert.equal(rotated.status, 200);
    h.clock.advance(11_000);
    assert.equal((await refresh(tokens.refresh_token, WIDER)).body.error, 'invalid_grant');
    const successor = (rotated.body as unknown as TokenBody).refresh_token;
    const after = await refresh(successor);
    assert.equal(after.status, 400);
    assert.equal(after.body.error, 'invalid_grant', 'the successor died with the family');
  });

  it('a live token asking a wider scope is invalid_scope, not invalid_grant', async () => {
    const tokens = await h.obtainTokens();
    const refused = await refresh(tokens.refresh_token, WIDER);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_scope');
    assert.equal((await refresh(tokens.refresh_token)).status, 200, 'and it still works');
  });

  it('positive control: a live token refreshes, narrowed', async () => {
    const tokens = await h.obtainTokens();
    h.clock.advance(3000_000);
    const next = await refresh(tokens.refresh_token, { scope: 'files:read' });
    assert.equal(next.status, 200, next.text);
    assert.equal((next.body as unknown as TokenBody).scope, 'files:read');
  });
});
