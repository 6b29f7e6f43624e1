/**
 * Property-based fuzzing through the public entry points: JWT/JWS compact parsing in the access
 * token verifier, and every authorization server endpoint fed arbitrary queries, forms and JSON.
 * Each answer is a clean refusal (4xx) or a success; never a 5xx, a crash or a hang.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { RequestError } from '../../src/errors/index.ts';
import { createHarness, type Harness } from '../authorization-server/harness.ts';
import { token } from '../helpers/tokens.ts';
import { claims, createFixture, type Fixture, testKeys } from '../helpers/verifier-fixture.ts';
import { fuzzOptions, nastyString, segment } from './arbitraries.ts';

describe('fuzz: JWT/JWS compact parsing (the access token verifier)', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await createFixture();
  });
  after(async () => {
    await fixture.close();
  });

  const header = fc.record(
    {
      alg: fc.oneof(
        fc.constantFrom('RS256', 'PS256', 'ES256', 'EdDSA', 'none', 'HS256', 'RS512', ''),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      kid: fc.oneof(fc.constantFrom('rs-1', 'es-1', 'missing'), fc.jsonValue({ maxDepth: 1 })),
      typ: fc.oneof(
        fc.constantFrom('at+jwt', 'JWT', 'application/at+jwt', 'dpop+jwt'),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      crit: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
      b64: fc.boolean(),
      jku: fc.webUrl(),
      x5u: fc.webUrl(),
      jwk: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['alg'] },
  );
  const claimOverrides = fc.dictionary(
    fc.constantFrom(
      'iss',
      'aud',
      'sub',
      'exp',
      'nbf',
      'iat',
      'jti',
      'scope',
      'client_id',
      'cnf',
      'azp',
    ),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)),
    { maxKeys: 4 },
  );
  const compact = fc.oneof(
    nastyString,
    fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('.')),
    fc.tuple(header, claimOverrides).map(([h, c]) => token(testKeys().rs, claims(c), h)),
    fc
      .tuple(claimOverrides, fc.nat(), fc.constantFrom('A', '_', '.', '=', '+'))
      .map(([c, at, char]) => {
        const valid = token(testKeys().es, claims(c));
        const index = at % valid.length;
        return valid.slice(0, index) + char + valid.slice(index + 1);
      }),
  );

  it('verify: a verified token, or a 4xx RequestError', async () => {
    await fc.assert(
      fc.asyncProperty(compact, async (value) => {
        try {
          const verified = await fixture.verifier.verify(value);
          assert.equal(typeof verified, 'object');
        } catch (error) {
          assert.ok(error instanceof RequestError, `not a RequestError: ${String(error)}`);
          assert.ok(error.status >= 400 && error.status < 500, `${error.code} ${error.status}`);
        }
      }),
      fuzzOptions(),
    );
  });
});

describe('fuzz: authorization server endpoints', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  const name = fc.oneof(
    fc.constantFrom(
      'response_type',
      'client_id',
      'redirect_uri',
      'code_challenge',
      'code_challenge_method',
      'resource',
      'scope',
      'state',
      'grant_type',
      'code',
      'code_verifier',
      'refresh_token',
      'token',
      'token_type_hint',
      'client_secret',
      'interaction',
      'csrf',
      'username',
      'password',
      'decision',
    ),
    nastyString,
  );
  const value = fc.oneof(
    nastyString,
    fc.constantFrom(
      'code',
      'pre-public',
      'http://127.0.0.1:4567/cb',
      'S256',
      'authorization_code',
      'refresh_token',
      'client_credentials',
      'allow',
    ),
  );
  const fields = fc.array(fc.tuple(name, value), { maxLength: 8 });
  const jsonBody = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((json) => JSON.stringify(json)),
    fc
      .record(
        {
          redirect_uris: fc.oneof(fc.array(value, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
          client_name: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 1 })),
          token_endpoint_auth_method: fc.oneof(
            fc.constantFrom('none', 'client_secret_basic', 'private_key_jwt'),
            nastyString,
          ),
          grant_types: fc.oneof(fc.array(value, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
          scope: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 1 })),
          jwks_uri: fc.webUrl(),
        },
        { requiredKeys: [] },
      )
      .map((json) => JSON.stringify(json)),
    nastyString,
  );
  const request = fc.oneof(
    fields.map((query) => ({
      method: 'GET',
      path: '/oauth/authorize',
      query,
      body: undefined,
      type: undefined,
    })),
    fc
      .tuple(
        fc.constantFrom(
          '/oauth/token',
          '/oauth/revoke',
          '/oauth/introspect',
          '/oauth/login',
          '/oauth/consent',
          '/oauth/account',
        ),
        fields,
        fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain'),
      )
      .map(([path, form, type]) => ({
        method: 'POST',
        path,
        query: [],
        body: new URLSearchParams(form).toString(),
        type,
      })),
    jsonBody.map((body) => ({
      method: 'POST',
      path: '/oauth/register',
      query: [],
      body,
      type: 'application/json',
    })),
    fc
      .tuple(
        fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
        fc.constantFrom(
          '/oauth/login',
          '/oauth/consent',
          '/oauth/jwks',
          '/oauth/nothing',
          '/.well-known/oauth-authorization-server',
        ),
        fields,
      )
      .map(([method, path, query]) => ({ method, path, query, body: undefined, type: undefined })),
  );

  it('every answer is below 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        request,
        fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
        async (input, cookie) => {
          const url = new URL(input.path, h.url);
          for (const [key, item] of input.query) url.searchParams.append(key, item);
          const headers: Record<string, string> = {};
          if (input.type !== undefined) headers['content-type'] = input.type;
          if (cookie !== undefined && /^[\x20-\x7E]*$/.test(cookie)) headers.cookie = cookie;
          const response = await h.as.handle(
            new Request(url, {
              method: input.method,
              headers,
              ...(input.body === undefined ? {} : { body: input.body }),
            }),
            { clientAddress: '192.0.2.1' },
          );
          if (response === undefined) return;
          assert.ok(
            response.status < 500,
            `${input.method} ${input.path}: ${response.status} ${await response.text()}`,
          );
        },
      ),
      fuzzOptions(200),
    );
  });
});
