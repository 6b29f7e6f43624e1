import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfigText } from '../../src/config/index.ts';
import { RequestError, type RequestErrorCode } from '../../src/errors/index.ts';
import {
  buildChallenge,
  buildProtectedResourceMetadata,
  challengeOptionsFor,
  extractBearerToken,
  protectedResourceMetadataForPath,
  requireScopes,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { token } from '../helpers/tokens.ts';
import { claims, createFixture, type Fixture, testKeys } from '../helpers/verifier-fixture.ts';

/*
 * RS-01..05, RS-08 and JWT-41 (docs/security-cases.md): reading the Authorization header, the one
 * challenge builder, the scope check and the protected resource metadata.
 */

const PRM = 'https://gateway.example/.well-known/oauth-protected-resource/mcp';
const keys = testKeys();
let fixture: Fixture;
before(async () => {
  fixture = await createFixture();
});
after(() => fixture.close());

function codeOf(run: () => unknown): RequestErrorCode | 'ok' {
  try {
    run();
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof RequestError);
    return error.code;
  }
}

describe('JWT-41, RS-04: the Authorization header', () => {
  const cases: [string, string | string[] | undefined, RequestErrorCode][] = [
    ['RS-01 no header', undefined, 'AuthTokenMissing'],
    ['RS-01 no header (empty list)', [], 'AuthTokenMissing'],
    ['two Authorization headers', ['Bearer abc', 'Bearer def'], 'AuthInvalidRequest'],
    ['empty value', '', 'AuthInvalidRequest'],
    ['Bearer alone', 'Bearer', 'AuthInvalidRequest'],
    ['Bearer and a space', 'Bearer ', 'AuthInvalidRequest'],
    ['two spaces', 'Bearer  abc', 'AuthInvalidRequest'],
    ['a tab', 'Bearer\tabc', 'AuthInvalidRequest'],
    ['two tokens', 'Bearer abc def', 'AuthInvalidRequest'],
    ['two schemes in one header', 'Bearer abc, Basic ZGVm', 'AuthInvalidRequest'],
    ['a character outside b64token', 'Bearer abc"def', 'AuthInvalidRequest'],
    ['a non-ASCII character', 'Bearer abcé', 'AuthInvalidRequest'],
    ['padding in the middle', 'Bearer ab=c', 'AuthInvalidRequest'],
    ['trailing space', 'Bearer abc ', 'AuthInvalidRequest'],
    ['leading space', ' Bearer abc', 'AuthInvalidRequest'],
    ['Basic scheme', 'Basic ZGVtbzpwYXNz', 'AuthInvalidRequest'],
    ['DPoP scheme', 'DPoP abc', 'AuthInvalidRequest'],
    ['scheme glued to the token', 'Bearerabc', 'AuthInvalidRequest'],
  ];
  for (const [name, value, code] of cases) {
    test(`${name}: ${code}`, () =>
      assert.equal(
        codeOf(() => extractBearerToken(value)),
        code,
      ));
  }
  test('positive control: the scheme is case-insensitive and b64token characters pass', () => {
    assert.equal(extractBearerToken('Bearer abc.DEF-_~+/=='), 'abc.DEF-_~+/==');
    assert.equal(extractBearerToken('bearer abc'), 'abc');
    assert.equal(extractBearerToken(['BEARER abc']), 'abc');
  });
});

describe('RS-01..04, RS-08: challenges', () => {
  const options = { resourceMetadataUrl: PRM, scope: ['files:read', 'files:write'] };

  test('RS-01 no credentials: 401, resource_metadata and scope, no error code', () => {
    const rendered = buildChallenge(
      codeError(() => extractBearerToken(undefined)),
      options,
    );
    assert.equal(rendered.status, 401);
    assert.equal(
      rendered.headers['www-authenticate'],
      `Bearer scope="files:read files:write", resource_metadata="${PRM}"`,
    );
    assert.equal(rendered.headers['cache-control'], 'no-store');
  });

  test('RS-02 invalid token: 401 invalid_token; neither header nor body echoes the token', async () => {
    const forged = token(keys.attacker, claims());
    const error = await fixture.verifier.verify(forged).catch((caught: unknown) => caught);
    const rendered = buildChallenge(error, options);
    assert.equal(rendered.status, 401);
    assert.match(
      rendered.headers['www-authenticate'] ?? '',
      /^Bearer error="invalid_token", error_description="[^"]+", scope="files:read files:write", resource_metadata="/,
    );
    const everything = JSON.stringify(rendered);
    for (const part of forged.split('.')) assert.ok(!everything.includes(part));
    assert.equal(JSON.parse(rendered.body).error, 'invalid_token');
  });

  const invalidCodes: RequestErrorCode[] = [
    'AuthTokenExpired',
    'AuthTokenRevoked',
    'AuthInvalidIssuer',
    'AuthInvalidAudience',
  ];
  for (const code of invalidCodes) {
    test(`RS-02 ${code}: 401 invalid_token`, () => {
      const rendered = buildChallenge(new RequestError(code, 'nope', { expose: true }), options);
      assert.equal(rendered.status, 401);
      assert.match(rendered.headers['www-authenticate'] ?? '', /error="invalid_token"/);
    });
  }

  test('RS-03 insufficient scope: 403 with every scope the call needs and resource_metadata', async () => {
    const verified = await fixture.verifier.verify(token(keys.rs, claims({ scope: 'files:read' })));
    const error = codeError(() => requireScopes(verified, ['files:read', 'files:write']));
    assert.equal((error as RequestError).code, 'AuthMissingScope');
    const rendered = buildChallenge(error, options);
    assert.equal(rendered.status, 403);
    assert.equal(
      rendered.headers['www-authenticate'],
      `Bearer error="insufficient_scope", error_description="the token lacks scope files:write", scope="files:read files:write", resource_metadata="${PRM}"`,
    );
  });

  test('RS-04 malformed header: 400 invalid_request', () => {
    const rendered = buildChallenge(
      codeError(() => extractBearerToken('Bearer a b')),
      options,
    );
    assert.equal(rendered.status, 400);
    assert.match(rendered.headers['www-authenticate'] ?? '', /^Bearer error="invalid_request"/);
  });

  test('values are sanitized: quotes, backslashes and control characters never reach the header', () => {
    const hostile = new RequestError('AuthTokenInvalid', 'bad "quote" \\ and\r\nX-Injected: 1 é', {
      expose: true,
    });
    const rendered = buildChallenge(hostile, {
      resourceMetadataUrl: 'https://g.example/x"y\\z',
      scope: 'a"b',
    });
    const header = rendered.headers['www-authenticate'] ?? '';
    assert.doesNotMatch(header, /[\r\n\\]|é|"quote"|x"y|a"b/);
    assert.equal(header.split('"').length % 2, 1);
  });

  test('unavailable verification is 503 without a challenge; other errors render as they are', () => {
    const unavailable = buildChallenge(new RequestError('AuthUnavailable', 'down'), options);
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers['www-authenticate'], undefined);
    const internal = buildChallenge(new Error('boom with Bearer secret'), options);
    assert.equal(internal.status, 500);
    assert.doesNotMatch(internal.body, /boom|secret/);
  });

  test('positive control: a valid token with the needed scopes passes every step', async () => {
    const value = extractBearerToken(
      `Bearer ${token(keys.rs, claims({ scope: 'files:read files:write' }))}`,
    );
    const verified = await fixture.verifier.verify(value);
    assert.doesNotThrow(() => requireScopes(verified, ['files:read', 'files:write']));
    assert.doesNotThrow(() => requireScopes(verified, 'files:write'));
  });
});

function codeError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  assert.fail('expected an error');
}

describe('RS-05: protected resource metadata (RFC 9728)', () => {
  const yaml = `
remote_mcp:
  enabled: true
  public_url: https://gateway.example
  issuer: https://auth.example/
  jwks_url: https://auth.example/jwks
  allowed_scopes: [files:read, files:write, notes:read]
  token_id_hmac_secret_env: HMAC
safety: { remote_mcp_enabled: true }
upstreams:
  - name: files
    path: /mcp
    command: node
    tool_scopes: { read_file: files:read, write_file: files:write, list: files:read }
  - name: notes
    path: /notes/v1
    url: https://notes.internal.example/mcp
`;
  const loaded = loadConfigText(yaml, { env: { HMAC: HMAC_SECRET } });

  test('the default upstream: canonical resource, issuer, its scopes, header-only bearer', () => {
    assert.deepEqual(buildProtectedResourceMetadata(loaded, 'files'), {
      resource: 'https://gateway.example/mcp',
      authorization_servers: ['https://auth.example/'],
      scopes_supported: ['files:read', 'files:write'],
      bearer_methods_supported: ['header'],
      resource_name: 'files',
    });
  });

  test('path-inserted and root well-known paths (RFC 9728 §3.1) find their documents', () => {
    assert.equal(
      protectedResourceMetadataForPath(loaded, '/.well-known/oauth-protected-resource/mcp')
        ?.resource,
      'https://gateway.example/mcp',
    );
    assert.equal(
      protectedResourceMetadataForPath(loaded, '/.well-known/oauth-protected-resource')?.resource,
      'https://gateway.example/mcp',
    );
    const notes = protectedResourceMetadataForPath(
      loaded,
      '/.well-known/oauth-protected-resource/notes/v1',
    );
    assert.equal(notes?.resource, 'https://gateway.example/notes/v1');
    // An upstream that maps no tools offers every allowed scope; no internal host leaks.
    assert.deepEqual(notes?.scopes_supported, ['files:read', 'files:write', 'notes:read']);
    assert.doesNotMatch(JSON.stringify(notes), /internal/);
    for (const other of [
      '/.well-known/oauth-protected-resource/',
      '/.well-known/oauth-protected-resource/mcp/',
      '/.well-known/oauth-protected-resource/MCP',
      '/mcp',
    ]) {
      assert.equal(protectedResourceMetadataForPath(loaded, other), undefined, other);
    }
  });

  test('resource has no trailing slash or fragment even when configured with them', () => {
    const withSlash = loadConfigText(
      yaml.replace('  issuer:', '  resource: "https://gateway.example/mcp/"\n  issuer:'),
      { env: { HMAC: HMAC_SECRET } },
    );
    assert.equal(
      buildProtectedResourceMetadata(withSlash, 0).resource,
      'https://gateway.example/mcp',
    );
  });

  test('challenge options point at the path-inserted metadata URL', () => {
    assert.deepEqual(challengeOptionsFor(loaded, 'notes'), {
      resourceMetadataUrl: 'https://gateway.example/.well-known/oauth-protected-resource/notes/v1',
      scope: ['files:read', 'files:write', 'notes:read'],
    });
    assert.throws(() => challengeOptionsFor(loaded, 'missing'), RangeError);
  });
});
