import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  clientCredentialsToken,
  deviceCodeToken,
  exchangeCode,
  oauthErrorCode,
  refreshTokens,
  requestDeviceAuthorization,
  revokeToken,
  type TokenContext,
} from '../../src/client/token-requests.ts';
import type { StoredClient } from '../../src/client/types.ts';
import { type ClientError, isClientError, RequestError } from '../../src/errors/index.ts';
import {
  form,
  type ScriptedServer,
  scriptedDiscovery,
  startScriptedServer,
} from './helpers/scripted-server.ts';

/**
 * Token, revocation and device requests against an authorization server that answers badly:
 * each refusal is a ClientError naming the request and the issuer, and server-chosen text is
 * made printable before it reaches a message.
 */

let as: ScriptedServer;
before(async () => {
  as = await startScriptedServer();
});
after(() => as?.close());
beforeEach(() => as.reset());

const publicClient = (issuer: string): StoredClient => ({
  issuer,
  client_id: 'public-client',
  source: 'dynamic',
});

function context(
  overrides: Record<string, unknown> = {},
  client?: StoredClient,
  extra: Partial<TokenContext> = {},
): TokenContext {
  return {
    discovery: scriptedDiscovery(as.origin, overrides),
    client: client ?? publicClient(as.origin),
    fetch,
    ...extra,
  };
}

async function refusal(run: () => Promise<unknown>): Promise<ClientError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isClientError(error), `expected a ClientError, got ${String(error)}`);
  return error;
}

describe('revocation (RFC 7009)', () => {
  it('no revocation_endpoint: resolves false and sends nothing', async () => {
    assert.equal(await revokeToken(context(), 'tok', 'refresh_token'), false);
    assert.equal(as.requests.length, 0);
  });

  const refusals: { name: string; status: number; body: unknown }[] = [
    { name: '400 invalid_request', status: 400, body: { error: 'invalid_request' } },
    { name: '503 with an HTML page', status: 503, body: '<html>down</html>' },
    { name: '204 (not the 200 RFC 7009 §2.2 asks for)', status: 204, body: undefined },
  ];
  for (const c of refusals) {
    it(`${c.name}: ClientTokenRequestFailed naming the status`, async () => {
      as.answer('/revoke', { status: c.status, body: c.body });
      const error = await refusal(() =>
        revokeToken(context({ revocation_endpoint: `${as.origin}/revoke` }), 'tok', 'access_token'),
      );
      assert.equal(error.code, 'ClientTokenRequestFailed');
      assert.equal(error.message, `revocation at ${as.origin} answered ${c.status}`);
      assert.equal(as.requests.length, 1);
    });
  }

  it('a network failure: ClientTokenRequestFailed "revocation … failed"', async () => {
    const failing: typeof fetch = async () => {
      throw new TypeError('connect ECONNREFUSED');
    };
    const error = await refusal(() =>
      revokeToken(
        context({ revocation_endpoint: `${as.origin}/revoke` }, undefined, { fetch: failing }),
        'tok',
        'access_token',
      ),
    );
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.equal(error.message, `revocation at ${as.origin} failed: connect ECONNREFUSED`);
    assert.ok(error.cause instanceof TypeError);
  });

  it('a blocked fetch (RequestError) passes through unchanged', async () => {
    const blocked = new RequestError('FetchBlocked', 'blocked by policy');
    const guard: typeof fetch = async () => {
      throw blocked;
    };
    const error = await revokeToken(
      context({ revocation_endpoint: `${as.origin}/revoke` }, undefined, { fetch: guard }),
      'tok',
      'access_token',
    ).catch((e: unknown) => e);
    assert.equal(error, blocked);
  });

  it('client_secret_basic from revocation_endpoint_auth_methods_supported: id and secret form-encoded (RFC 6749 §2.3.1), nothing in the body', async () => {
    as.answer('/revoke', { status: 200 });
    const client: StoredClient = {
      issuer: as.origin,
      client_id: 'id with:colon',
      client_secret: 's/é+',
      source: 'pre-registered',
    };
    const ok = await revokeToken(
      context(
        {
          revocation_endpoint: `${as.origin}/revoke`,
          revocation_endpoint_auth_methods_supported: ['client_secret_basic'],
          token_endpoint_auth_methods_supported: ['client_secret_post'],
        },
        client,
      ),
      'the-token',
      'refresh_token',
    );
    assert.equal(ok, true);
    const sent = as.requests[0];
    const pair = Buffer.from(
      String(sent?.headers.authorization).replace(/^Basic /, ''),
      'base64',
    ).toString();
    assert.equal(pair, 'id+with%3Acolon:s%2F%C3%A9%2B');
    assert.deepEqual(form(sent), { token: 'the-token', token_type_hint: 'refresh_token' });
  });

  it('client_secret_post from the token endpoint methods: secret in the body, no Authorization', async () => {
    as.answer('/revoke', { status: 200 });
    const client: StoredClient = {
      issuer: as.origin,
      client_id: 'cid',
      client_secret: 'sec',
      source: 'pre-registered',
    };
    assert.equal(
      await revokeToken(
        context(
          {
            revocation_endpoint: `${as.origin}/revoke`,
            token_endpoint_auth_methods_supported: ['client_secret_post'],
          },
          client,
        ),
        'tok',
        'access_token',
      ),
      true,
    );
    assert.equal(as.requests[0]?.headers.authorization, undefined);
    assert.deepEqual(form(as.requests[0]), {
      token: 'tok',
      token_type_hint: 'access_token',
      client_id: 'cid',
      client_secret: 'sec',
    });
  });

  it('positive control: a public client sends its client_id alone and gets true', async () => {
    as.answer('/revoke', { status: 200 });
    assert.equal(
      await revokeToken(
        context({ revocation_endpoint: `${as.origin}/revoke` }),
        'tok',
        'access_token',
      ),
      true,
    );
    assert.deepEqual(form(as.requests[0]), {
      token: 'tok',
      token_type_hint: 'access_token',
      client_id: 'public-client',
    });
  });
});

describe('device authorization request (RFC 8628 §3.1–3.2)', () => {
  const withDevice = () => context({ device_authorization_endpoint: `${as.origin}/device` });

  it('no device_authorization_endpoint: ClientAuthorizationFailed naming the fix, nothing sent', async () => {
    const error = await refusal(() => requestDeviceAuthorization(context(), 'read'));
    assert.equal(error.code, 'ClientAuthorizationFailed');
    assert.equal(
      error.message,
      `${as.origin} does not offer the device authorization grant (no device_authorization_endpoint in its metadata)`,
    );
    assert.equal(error.fix, 'sign in with a browser: portcullis login URL (without --device)');
    assert.equal(as.requests.length, 0);
  });

  const bad: { name: string; status: number; body: unknown; message: string }[] = [
    {
      name: '400 with error and a hostile description',
      status: 400,
      body: { error: 'invalid_scope', error_description: 'no\u001b[31m way\n' },
      message: 'answered 400 invalid_scope (no?[31m way?)',
    },
    { name: '400 without a body', status: 400, body: '', message: 'answered 400' },
    { name: '200 that is not JSON', status: 200, body: 'hello', message: 'answered 200' },
    { name: '200 with JSON null', status: 200, body: 'null', message: 'answered 200' },
  ];
  for (const c of bad) {
    it(`${c.name}: ClientAuthorizationFailed "${c.message}"`, async () => {
      as.answer('/device', {
        status: c.status,
        body: c.body,
        ...(c.body === 'null' ? { contentType: 'application/json' } : {}),
      });
      const error = await refusal(() => requestDeviceAuthorization(withDevice(), undefined));
      assert.equal(error.code, 'ClientAuthorizationFailed');
      assert.equal(error.message, `device authorization at ${as.origin} ${c.message}`);
    });
  }

  const valid = {
    device_code: 'dc',
    user_code: 'ABCD-EFGH',
    verification_uri: 'https://as.example/device',
    expires_in: 600,
  };
  const incomplete: { name: string; body: Record<string, unknown> }[] = [
    { name: 'no device_code', body: { ...valid, device_code: undefined } },
    { name: 'numeric user_code', body: { ...valid, user_code: 1234 } },
    { name: 'verification_uri not a URL', body: { ...valid, verification_uri: 'not a url' } },
    { name: 'expires_in 0', body: { ...valid, expires_in: 0 } },
    { name: 'expires_in as a string', body: { ...valid, expires_in: '600' } },
    { name: 'negative interval', body: { ...valid, interval: -1 } },
    { name: 'interval as a string', body: { ...valid, interval: '5' } },
  ];
  for (const c of incomplete) {
    it(`200 with ${c.name}: refused as incomplete (RFC 8628 §3.2)`, async () => {
      as.answer('/device', { status: 200, body: c.body });
      const error = await refusal(() => requestDeviceAuthorization(withDevice(), undefined));
      assert.equal(error.code, 'ClientAuthorizationFailed');
      assert.equal(
        error.message,
        `device authorization at ${as.origin} answered without device_code, user_code, verification_uri and expires_in (RFC 8628 §3.2)`,
      );
    });
  }

  it('a network failure: ClientTokenRequestFailed "device authorization … failed"', async () => {
    const failing: typeof fetch = async () => {
      throw new Error('socket hang up');
    };
    const error = await refusal(() =>
      requestDeviceAuthorization(
        context({ device_authorization_endpoint: `${as.origin}/device` }, undefined, {
          fetch: failing,
        }),
        undefined,
      ),
    );
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.equal(error.message, `device authorization at ${as.origin} failed: socket hang up`);
  });

  it('--no-resource-parameter and no scope: neither is sent', async () => {
    as.answer('/device', { status: 200, body: valid });
    await requestDeviceAuthorization(
      context({ device_authorization_endpoint: `${as.origin}/device` }, undefined, {
        resourceParameter: false,
      }),
      undefined,
    );
    assert.deepEqual(form(as.requests[0]), { client_id: 'public-client' });
  });

  it('positive control: a complete answer is returned; scope, resource and client_id were sent', async () => {
    as.answer('/device', { status: 200, body: { ...valid, interval: 0 } });
    const answer = await requestDeviceAuthorization(withDevice(), 'read write');
    assert.equal(answer.device_code, 'dc');
    assert.equal(answer.interval, 0);
    assert.deepEqual(form(as.requests[0]), {
      scope: 'read write',
      resource: 'https://mcp.example.com/mcp',
      client_id: 'public-client',
    });
  });
});

describe('device code token request (RFC 8628 §3.4–3.5)', () => {
  it('200 with an invalid token response: ClientTokenRequestFailed', async () => {
    as.answer('/token', { status: 200, body: { token_type: 'Bearer' } });
    const error = await refusal(() => deviceCodeToken(context(), 'dc'));
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.equal(
      error.message,
      `device code grant at ${as.origin} answered an invalid token response`,
    );
  });

  it('500 without an OAuth error: ClientTokenRequestFailed naming the status', async () => {
    as.answer('/token', { status: 500, body: 'boom' });
    const error = await refusal(() => deviceCodeToken(context(), 'dc'));
    assert.equal(error.message, `device code grant at ${as.origin} answered 500`);
  });

  it('a network failure: ClientTokenRequestFailed "device code grant … failed"', async () => {
    const failing: typeof fetch = async () => {
      throw new Error('reset');
    };
    const error = await refusal(() =>
      deviceCodeToken(context({}, undefined, { fetch: failing }), 'dc'),
    );
    assert.equal(error.message, `device code grant at ${as.origin} failed: reset`);
  });

  const polling: { name: string; body: unknown; answer: unknown }[] = [
    {
      name: 'authorization_pending without a description',
      body: { error: 'authorization_pending' },
      answer: { error: 'authorization_pending' },
    },
    {
      name: 'a hostile error code and description, made printable',
      body: { error: 'slow\ndown', error_description: 'wait\u0007' },
      answer: { error: 'slow?down', description: 'wait?' },
    },
    {
      name: 'a non-string description is left out',
      body: { error: 'expired_token', error_description: 42 },
      answer: { error: 'expired_token' },
    },
  ];
  for (const c of polling) {
    it(`400 ${c.name}: returned as the polling answer`, async () => {
      as.answer('/token', { status: 400, body: c.body });
      assert.deepEqual(await deviceCodeToken(context(), 'dc'), c.answer);
    });
  }

  it('positive control: 200 tokens; the grant, device code, resource and client_id were sent', async () => {
    as.answer('/token', { status: 200, body: { access_token: 'at', token_type: 'Bearer' } });
    const answer = await deviceCodeToken(context(), 'the-device-code');
    assert.ok('tokens' in answer);
    assert.equal(answer.tokens.access_token, 'at');
    assert.deepEqual(form(as.requests[0]), {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: 'the-device-code',
      resource: 'https://mcp.example.com/mcp',
      client_id: 'public-client',
    });
  });
});

describe('token endpoint refusals through the SDK request builders', () => {
  it('client credentials refused with invalid_client: the OAuth code, the description and the fix', async () => {
    as.answer('/token', {
      status: 401,
      body: { error: 'invalid_client', error_description: 'unknown\tclient' },
    });
    const client: StoredClient = {
      issuer: as.origin,
      client_id: 'cid',
      client_secret: 'sec',
      source: 'pre-registered',
    };
    const error = await refusal(() => clientCredentialsToken(context({}, client), 'read'));
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.equal(
      error.message,
      `client credentials grant at ${as.origin} failed: invalid_client (unknown?client)`,
    );
    assert.equal(error.fix, 'check --client-id and the client secret or key');
    assert.equal(oauthErrorCode(error), 'invalid_client');
    assert.equal(form(as.requests[0]).scope, 'read');
  });

  it('refresh refused with invalid_grant: no fix, the OAuth code is kept', async () => {
    as.answer('/token', { status: 400, body: { error: 'invalid_grant' } });
    const error = await refusal(() => refreshTokens(context(), 'rt'));
    assert.match(error.message, new RegExp(`^refresh at ${as.origin} failed: invalid_grant`));
    assert.equal(error.fix, undefined);
    assert.equal(oauthErrorCode(error), 'invalid_grant');
    assert.equal(oauthErrorCode(error.cause), 'invalid_grant');
    assert.equal(oauthErrorCode(new Error('x')), undefined);
    assert.equal(form(as.requests[0]).refresh_token, 'rt');
  });

  it('a code exchange answered with HTML: ClientTokenRequestFailed, no OAuth code', async () => {
    as.answer('/token', { status: 502, body: '<html>bad gateway</html>' });
    const error = await refusal(() =>
      exchangeCode(context({}, undefined, { resourceParameter: false }), {
        code: 'c',
        codeVerifier: 'v'.repeat(43),
        redirectUri: 'http://127.0.0.1:1/callback',
      }),
    );
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.match(
      error.message,
      new RegExp(`^authorization code exchange at ${as.origin} failed: `),
    );
    assert.equal(form(as.requests[0]).resource, undefined);
  });

  it('a private key at a server that does not take private_key_jwt: refused before anything is sent', async () => {
    const error = await refusal(() =>
      clientCredentialsToken(
        context({ token_endpoint_auth_methods_supported: ['client_secret_basic'] }, undefined, {
          privateKey: { pem: 'unused' },
        }),
        undefined,
      ),
    );
    assert.equal(
      error.message,
      `${as.origin} does not accept private_key_jwt client authentication (it offers client_secret_basic)`,
    );
    assert.equal(error.fix, 'use --client-secret-env instead of a private key');
    assert.equal(as.requests.length, 0);
  });

  it('positive control: client credentials without a scope get tokens; no scope was sent', async () => {
    as.answer('/token', { status: 200, body: { access_token: 'at', token_type: 'Bearer' } });
    const tokens = await clientCredentialsToken(context(), undefined);
    assert.equal(tokens.access_token, 'at');
    const sent = form(as.requests[0]);
    assert.equal(sent.grant_type, 'client_credentials');
    assert.equal(sent.scope, undefined);
    assert.equal(sent.resource, 'https://mcp.example.com/mcp');
  });
});
