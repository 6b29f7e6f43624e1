import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import { formatChallenge, renderError } from '../../src/errors/render.ts';

/* One renderer, four forms of the same catalogue entry: the gateway's JSON, an authorization
 * server endpoint's OAuth JSON, an HTML page, a redirect back to the client. */

const scope = new RequestError('AuthMissingScope', 'tool write_file needs scope files:write', {
  details: { scope: 'files:write' },
});

describe('renderError: headers from the error and its rendering data', () => {
  test('a Bearer challenge given as data becomes one WWW-Authenticate value', () => {
    const rendered = renderError(scope, {
      challenge: {
        scheme: 'Bearer',
        params: [
          ['error', 'insufficient_scope'],
          ['scope', 'files:write'],
          ['resource_metadata', 'https://g.example/.well-known/oauth-protected-resource/mcp'],
        ],
      },
    });
    assert.equal(rendered.status, 403);
    assert.equal(
      rendered.headers['www-authenticate'],
      'Bearer error="insufficient_scope", scope="files:write", resource_metadata="https://g.example/.well-known/oauth-protected-resource/mcp"',
    );
  });

  test('challenge values lose quotes, backslashes, CR/LF and non-ASCII', () => {
    const header = formatChallenge({
      scheme: 'Basic',
      params: [['realm', 'a"b\\c\r\nX-Injected: 1 é']],
    });
    assert.equal(header, 'Basic realm="abcX-Injected: 1 "');
  });

  const retryCases: [string, RequestError, string | undefined][] = [
    [
      '429 with its detail',
      new RequestError('RateLimited', 'slow', { details: { retryAfter: '7' } }),
      '7',
    ],
    ['429 without one: a minute', new RequestError('LoginThrottled', 'slow'), '60'],
    [
      '503 with its detail',
      new RequestError('CapacityExceeded', 'full', { details: { retryAfter: '5' } }),
      '5',
    ],
    ['503 without one: none', new RequestError('AuditUnavailable', 'down'), undefined],
    [
      'positive control: a 400 never',
      new RequestError('RequestMalformed', 'bad', { details: { retryAfter: '9' } }),
      undefined,
    ],
  ];
  for (const [name, error, expected] of retryCases) {
    test(`Retry-After: ${name}`, () => {
      assert.equal(renderError(error).headers['retry-after'], expected);
      assert.equal(renderError(error, { form: 'oauth' }).headers['retry-after'], expected);
    });
  }

  test('Allow on a 405 from the error; CORS and extra headers from the caller', () => {
    const error = new RequestError('MethodNotAllowed', 'PUT is not allowed', {
      details: { allow: 'GET, HEAD' },
    });
    const rendered = renderError(error, {
      cors: { 'access-control-allow-origin': '*' },
      headers: { 'x-request-id': 'r1' },
    });
    assert.equal(rendered.status, 405);
    assert.equal(rendered.headers.allow, 'GET, HEAD');
    assert.equal(rendered.headers['access-control-allow-origin'], '*');
    assert.equal(rendered.headers['x-request-id'], 'r1');
    assert.equal(rendered.headers['cache-control'], 'no-store');
  });
});

describe('renderError: the forms', () => {
  test('json (gateway): catalogue code, our message, no-store', () => {
    const rendered = renderError(scope);
    assert.deepEqual(JSON.parse(rendered.body), {
      error: 'insufficient_scope',
      error_description: 'tool write_file needs scope files:write',
      code: 'AuthMissingScope',
    });
    assert.equal(rendered.headers.pragma, undefined);
  });

  test('oauth (RFC 6749 §5.2): server_error for internal failures, description in its charset', () => {
    const internal = renderError(new Error('db password=hunter2'), { form: 'oauth' });
    assert.equal(internal.status, 500);
    assert.equal(JSON.parse(internal.body).error, 'server_error');
    assert.doesNotMatch(internal.body, /hunter2/);
    const quoted = renderError(new RequestError('OAuthInvalidRequest', 'bad "x" \\ é'), {
      form: 'oauth',
    });
    assert.equal(JSON.parse(quoted.body).error_description, "bad 'x' ' ");
    assert.equal(quoted.headers.pragma, 'no-cache');
    assert.equal(quoted.headers['x-content-type-options'], 'nosniff');
  });

  test('page: HTML with the escaped description, a 401 shown as 400, framing refused', () => {
    const rendered = renderError(new RequestError('OAuthInvalidClient', 'unknown <client>'), {
      form: 'page',
    });
    assert.equal(rendered.status, 400);
    assert.match(rendered.headers['content-type'] ?? '', /^text\/html/);
    assert.equal(rendered.headers['x-frame-options'], 'DENY');
    assert.match(rendered.body, /unknown &lt;client&gt;/);
    assert.match(rendered.body, /<code>invalid_client<\/code>/);
    assert.equal(rendered.headers['www-authenticate'], undefined);
  });

  test('redirect (RFC 6749 §4.1.2.1, RFC 9207): 303 with error, description, state and iss', () => {
    const rendered = renderError(new RequestError('OAuthAccessDenied', 'the user denied'), {
      form: {
        kind: 'redirect',
        redirectUri: 'http://127.0.0.1:7777/cb?x=1',
        state: 's1',
        issuer: 'https://as.example',
      },
    });
    assert.equal(rendered.status, 303);
    assert.equal(rendered.body, '');
    const location = new URL(rendered.headers.location ?? '');
    assert.equal(location.origin + location.pathname, 'http://127.0.0.1:7777/cb');
    assert.deepEqual(Object.fromEntries(location.searchParams), {
      x: '1',
      error: 'access_denied',
      error_description: 'the user denied',
      state: 's1',
      iss: 'https://as.example',
    });
  });
});
