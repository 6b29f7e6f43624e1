/**
 * The provider half of a sign-in, against a provider fixture on 127.0.0.1: the authorization
 * request (PKCE S256, state, nonce), the callback (provider errors, RFC 9207 `iss`, the code
 * exchange with each client authentication method), refresh and RFC 8693 exchange.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ProviderGrantInvalid } from '../../src/authorization-server/federation/provider.ts';
import { RequestError } from '../../src/errors/index.ts';
import { tempDir } from '../helpers/cli.ts';
import { type ProviderFixture, providerFor, startProviderFixture } from './provider-fixture.ts';

const sha256url = async (value: string) =>
  Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value))).toString(
    'base64url',
  );

describe('sign-in at a provider', () => {
  let op: ProviderFixture;
  before(async () => {
    op = await startProviderFixture();
  });
  after(async () => {
    await op.close();
  });

  const idToken = (nonce: string) =>
    op.sign({
      iss: op.issuer,
      sub: 'u-1',
      aud: 'portcullis',
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 300,
      nonce,
      email: 'u1@example.com',
    });

  it('builds the authorization request: code, PKCE S256, state, nonce, openid, the fixed callback', async () => {
    const provider = providerFor(op.issuer, { scopes: ['email'] });
    const started = await provider.start();
    const url = new URL(started.url);
    assert.equal(url.origin + url.pathname, `${op.issuer}/authorize`);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('client_id'), 'portcullis');
    assert.equal(url.searchParams.get('redirect_uri'), 'http://127.0.0.1:8080/oauth/idp/callback');
    assert.equal(url.searchParams.get('scope'), 'email openid');
    assert.equal(url.searchParams.get('state'), started.state);
    assert.equal(url.searchParams.get('nonce'), started.nonce);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('code_challenge'), await sha256url(started.codeVerifier));
    assert.ok(started.state.length >= 43 && started.nonce.length >= 43);
  });

  it('exchanges the code with client_secret_basic (form-urlencoded parts) and checks the ID token', async () => {
    const provider = providerFor(op.issuer, {}, { secret: 'a secret:with/odd chars' });
    const started = await provider.start();
    op.tokenAnswers.push({
      status: 200,
      body: {
        access_token: 'at-1',
        token_type: 'Bearer',
        expires_in: 600,
        refresh_token: 'rt-1',
        id_token: await idToken(started.nonce),
      },
    });
    const signedIn = await provider.finish(
      new URLSearchParams({ code: 'c-1', state: started.state }),
      started,
    );
    assert.equal(signedIn.providerSubject, 'u-1');
    assert.equal(signedIn.tokens.accessToken, 'at-1');
    assert.equal(signedIn.tokens.refreshToken, 'rt-1');
    const request = op.tokenRequests.at(-1);
    const basic = Buffer.from(String(request?.headers.authorization).slice(6), 'base64').toString();
    assert.equal(basic, 'portcullis:a+secret%3Awith%2Fodd+chars');
    const form = new URLSearchParams(request?.body);
    assert.equal(form.get('grant_type'), 'authorization_code');
    assert.equal(form.get('code'), 'c-1');
    assert.equal(form.get('code_verifier'), started.codeVerifier);
    assert.equal(form.get('client_secret'), null, 'the secret only in the header');
  });

  it('client_secret_post puts id and secret in the body', async () => {
    const provider = providerFor(op.issuer, { token_endpoint_auth_method: 'client_secret_post' });
    const started = await provider.start();
    op.tokenAnswers.push({
      status: 200,
      body: { access_token: 'at', token_type: 'Bearer', id_token: await idToken(started.nonce) },
    });
    await provider.finish(new URLSearchParams({ code: 'c' }), started);
    const request = op.tokenRequests.at(-1);
    assert.equal(request?.headers.authorization, undefined);
    const form = new URLSearchParams(request?.body);
    assert.equal(form.get('client_id'), 'portcullis');
    assert.equal(form.get('client_secret'), 'corp-secret');
  });

  it('private_key_jwt signs an RFC 7523 assertion for the token endpoint', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'key.pem');
    writeFileSync(
      keyFile,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }),
    );
    const provider = providerFor(op.issuer, {
      client_secret_env: undefined,
      private_key_file: keyFile,
      private_key_algorithm: 'ES256',
    });
    await provider.ready();
    const started = await provider.start();
    op.tokenAnswers.push({
      status: 200,
      body: { access_token: 'at', token_type: 'Bearer', id_token: await idToken(started.nonce) },
    });
    await provider.finish(new URLSearchParams({ code: 'c' }), started);
    const form = new URLSearchParams(op.tokenRequests.at(-1)?.body);
    assert.equal(
      form.get('client_assertion_type'),
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    const assertion = decodeJwt(form.get('client_assertion') ?? '');
    assert.equal(assertion.iss, 'portcullis');
    assert.equal(assertion.sub, 'portcullis');
    assert.equal(assertion.aud, `${op.issuer}/token`);
    assert.ok(typeof assertion.jti === 'string' && typeof assertion.exp === 'number');
  });

  const REFUSALS: {
    name: string;
    params: Record<string, string>;
    answer?: { status: number; body: Record<string, unknown> };
    metadata?: Record<string, unknown>;
    problem: RegExp;
    never?: string;
  }[] = [
    {
      name: 'the provider answers with an error',
      params: { error: 'access_denied', error_description: 'the user cancelled' },
      problem: /refused the sign-in: access_denied \(the user cancelled\)/,
    },
    {
      name: 'iss of another issuer (RFC 9207 mix-up)',
      params: { code: 'c', iss: 'https://attacker.example' },
      problem: /RFC 9207/,
    },
    {
      name: 'no iss where the provider promises one',
      params: { code: 'c' },
      metadata: { authorization_response_iss_parameter_supported: true },
      problem: /RFC 9207/,
    },
    {
      name: 'no code',
      params: {},
      problem: /no authorization code/,
    },
    {
      name: 'the client secret is refused',
      params: { code: 'c' },
      answer: { status: 401, body: { error: 'invalid_client' } },
      problem: /refused Portcullis's client credentials/,
      never: 'corp-secret',
    },
    {
      name: 'the code is refused',
      params: { code: 'c' },
      answer: { status: 400, body: { error: 'invalid_grant' } },
      problem: /answered 400 invalid_grant/,
    },
    {
      name: 'no access token',
      params: { code: 'c' },
      answer: { status: 200, body: { token_type: 'Bearer' } },
      problem: /no access token/,
    },
  ];
  for (const entry of REFUSALS) {
    it(`ends with FederationProviderError, no sign-in: ${entry.name}`, async () => {
      op.metadata = entry.metadata ?? {};
      try {
        const provider = providerFor(op.issuer);
        const started = await provider.start();
        if (entry.answer !== undefined) op.tokenAnswers.push(entry.answer);
        await assert.rejects(
          provider.finish(new URLSearchParams(entry.params), started),
          (error: unknown) => {
            assert.ok(error instanceof RequestError);
            assert.equal(error.code, 'FederationProviderError');
            assert.match(error.message, entry.problem);
            if (entry.never !== undefined) assert.ok(!error.message.includes(entry.never));
            return true;
          },
        );
      } finally {
        op.metadata = {};
        op.tokenAnswers.length = 0;
      }
    });
  }

  it('refresh keeps the old refresh token when none is returned; invalid_grant is ProviderGrantInvalid', async () => {
    const provider = providerFor(op.issuer);
    op.tokenAnswers.push({ status: 200, body: { access_token: 'at-2', expires_in: 60 } });
    const fresh = await provider.refresh({
      accessToken: 'at-1',
      refreshToken: 'rt-1',
      expiresAt: 0,
      scope: undefined,
    });
    assert.equal(fresh.accessToken, 'at-2');
    assert.equal(fresh.refreshToken, 'rt-1');
    assert.equal(new URLSearchParams(op.tokenRequests.at(-1)?.body).get('refresh_token'), 'rt-1');
    op.tokenAnswers.push({ status: 400, body: { error: 'invalid_grant' } });
    await assert.rejects(
      provider.refresh({ accessToken: 'a', refreshToken: 'r', expiresAt: 0, scope: undefined }),
      ProviderGrantInvalid,
    );
  });

  it('token exchange sends the RFC 8693 parameters', async () => {
    const provider = providerFor(op.issuer);
    op.tokenAnswers.push({
      status: 200,
      body: {
        access_token: 'exchanged',
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        expires_in: 300,
      },
    });
    const result = await provider.exchange('person-token', {
      audience: 'reports',
      resource: 'https://reports.example/mcp',
      scopes: ['read'],
    });
    assert.equal(result.accessToken, 'exchanged');
    const form = new URLSearchParams(op.tokenRequests.at(-1)?.body);
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.equal(form.get('subject_token'), 'person-token');
    assert.equal(form.get('subject_token_type'), 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(form.get('audience'), 'reports');
    assert.equal(form.get('resource'), 'https://reports.example/mcp');
    assert.equal(form.get('scope'), 'read');
  });

  it('discovery refuses a document naming another issuer', async () => {
    op.metadata = { issuer: 'https://impostor.example' };
    try {
      await assert.rejects(providerFor(op.issuer).metadata(), /names issuer https:\/\/impostor/);
    } finally {
      op.metadata = {};
    }
  });

  it('discovery refuses a provider without PKCE S256', async () => {
    op.metadata = { code_challenge_methods_supported: ['plain'] };
    try {
      await assert.rejects(providerFor(op.issuer).metadata(), /PKCE/);
    } finally {
      op.metadata = {};
    }
  });
});
