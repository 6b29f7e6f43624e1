/**
 * Property-based fuzzing of what an authorization server answers the client: a hostile or
 * broken server controls the status and body of device authorization and token responses.
 * The client must give a well-formed result or a typed ClientError, never crash or return
 * something half-valid. The network is replaced by a function answering each request with the
 * generated response; parsing and validation are the real code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Discovery } from '../../src/client/discovery.ts';
import {
  clientCredentialsToken,
  deviceCodeToken,
  refreshTokens,
  requestDeviceAuthorization,
  type TokenContext,
} from '../../src/client/token-requests.ts';
import { ClientError } from '../../src/errors/index.ts';
import { fuzzOptions, nastyString } from './arbitraries.ts';

const ISSUER = 'https://as.example';

function context(status: number, body: string, type: string): TokenContext {
  const discovery = {
    resource: 'https://mcp.example/mcp',
    issuer: ISSUER,
    metadata: {
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/authorize`,
      token_endpoint: `${ISSUER}/token`,
      device_authorization_endpoint: `${ISSUER}/device_authorization`,
      response_types_supported: ['code'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    },
    defaultEndpoints: false,
    legacy: false,
  } as unknown as Discovery;
  return {
    discovery,
    client: { issuer: ISSUER, client_id: 'cli', client_secret: 's3cret', source: 'pre-registered' },
    fetch: async () =>
      new Response(body, { status, headers: type === '' ? {} : { 'content-type': type } }),
  };
}

const field = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 1 }),
);
const answerBody = fc.oneof(
  nastyString,
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc
    .record(
      {
        access_token: field,
        token_type: fc.oneof(fc.constantFrom('Bearer', 'bearer', 'DPoP', 'mac'), field),
        expires_in: field,
        refresh_token: field,
        scope: field,
        device_code: field,
        user_code: field,
        verification_uri: fc.oneof(fc.webUrl(), field),
        interval: field,
        error: fc.oneof(
          fc.constantFrom(
            'authorization_pending',
            'slow_down',
            'expired_token',
            'access_denied',
            'invalid_grant',
            'invalid_client',
          ),
          field,
        ),
        error_description: field,
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
);
const answer = fc.record({
  status: fc.constantFrom(200, 200, 400, 401, 429, 500, 302),
  body: answerBody,
  type: fc.constantFrom('application/json', 'text/html', ''),
});

/** A typed refusal, with a message a terminal can print safely. */
function assertClientError(error: unknown): void {
  assert.ok(error instanceof ClientError, `not a ClientError: ${String(error)}`);
  const control = [...error.message].some((char) => char.charCodeAt(0) < 0x20 || char === '\u007f');
  assert.equal(control, false, 'no control characters in the message');
}

describe('fuzz: answers of an authorization server to the client', () => {
  it('device authorization: a complete RFC 8628 §3.2 answer or a ClientError', async () => {
    await fc.assert(
      fc.asyncProperty(answer, async ({ status, body, type }) => {
        try {
          const device = await requestDeviceAuthorization(
            context(status, body, type),
            'files:read',
          );
          assert.equal(typeof device.device_code, 'string');
          assert.equal(typeof device.user_code, 'string');
          assert.ok(URL.canParse(device.verification_uri));
          assert.ok(device.expires_in > 0);
        } catch (error) {
          assertClientError(error);
        }
      }),
      fuzzOptions(),
    );
  });

  it('device code grant: tokens, a polling error code, or a ClientError', async () => {
    await fc.assert(
      fc.asyncProperty(answer, async ({ status, body, type }) => {
        try {
          const result = await deviceCodeToken(context(status, body, type), 'device-code');
          if ('tokens' in result) assert.equal(typeof result.tokens.access_token, 'string');
          else assert.doesNotMatch(result.error, /[^\x20-\x7e]/);
        } catch (error) {
          assertClientError(error);
        }
      }),
      fuzzOptions(),
    );
  });

  it('refresh and client credentials grants: tokens or a ClientError', async () => {
    await fc.assert(
      fc.asyncProperty(answer, fc.boolean(), async ({ status, body, type }, refresh) => {
        try {
          const tokens = refresh
            ? await refreshTokens(context(status, body, type), 'refresh-token')
            : await clientCredentialsToken(context(status, body, type), 'files:read');
          assert.equal(typeof tokens.access_token, 'string');
        } catch (error) {
          assertClientError(error);
        }
      }),
      fuzzOptions(100),
    );
  });

  it('positive control: well-formed answers are accepted', async () => {
    const device = await requestDeviceAuthorization(
      context(
        200,
        JSON.stringify({
          device_code: 'd',
          user_code: 'BCDF-GHJK',
          verification_uri: `${ISSUER}/device`,
          expires_in: 600,
          interval: 5,
        }),
        'application/json',
      ),
      'files:read',
    );
    assert.equal(device.user_code, 'BCDF-GHJK');
    const tokens = { access_token: 'a', token_type: 'Bearer', expires_in: 60 };
    const granted = await deviceCodeToken(
      context(200, JSON.stringify(tokens), 'application/json'),
      'd',
    );
    assert.ok('tokens' in granted && granted.tokens.access_token === 'a');
    const pending = await deviceCodeToken(
      context(400, JSON.stringify({ error: 'authorization_pending' }), 'application/json'),
      'd',
    );
    assert.deepEqual(pending, { error: 'authorization_pending' });
  });
});
