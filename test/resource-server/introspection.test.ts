import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { loadConfigText } from '../../src/config/index.ts';
import type { RequestErrorCode } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  createIntrospectionVerifier,
  createVerifierFromConfig,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { json, type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';
import { token } from '../helpers/tokens.ts';
import {
  ALLOWED_SCOPES,
  AUDIENCE,
  claims,
  ISSUER,
  NOW,
  rejectsWith,
  TOKEN_ID_SECRET,
  testKeys,
} from '../helpers/verifier-fixture.ts';

/*
 * The INT-xx cases of docs/security-cases.md against a real introspection endpoint on loopback. The
 * endpoint checks client_secret_basic and answers per token; each token string names its scenario.
 */

const CLIENT_ID = 'gateway client';
const CLIENT_SECRET = 'sécret:with/odd&chars';
const active = (extra: Record<string, unknown> = {}) => ({
  active: true,
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'alice',
  client_id: 'client-1',
  scope: 'files:read other',
  exp: NOW + 600,
  iat: NOW - 10,
  token_type: 'Bearer',
  ...extra,
});

type Answer = (response: ServerResponse) => void;
const answers: Record<string, Answer> = {
  'int-01-inactive': (r) => json(r, 200, { active: false }),
  'int-02-active-string': (r) => json(r, 200, { ...active(), active: 'true' }),
  'int-02-active-one': (r) => json(r, 200, { ...active(), active: 1 }),
  'int-02-active-missing': (r) => {
    const { active: _dropped, ...rest } = active();
    json(r, 200, rest);
  },
  'int-03-500': (r) => r.writeHead(500).end(),
  'int-03-302': (r) => r.writeHead(302, { location: '/introspect-elsewhere' }).end(),
  'int-03-reset': (r) => r.socket?.destroy(),
  'int-03-slow': (r) => {
    setTimeout(() => json(r, 200, active()), 1500);
  },
  'int-04-no-aud': (r) => json(r, 200, { ...active(), aud: undefined }),
  'int-04-other-aud': (r) => json(r, 200, active({ aud: 'https://other.example/mcp' })),
  'int-05-no-exp': (r) => json(r, 200, { ...active(), exp: undefined }),
  'int-05-exp-past': (r) => json(r, 200, active({ exp: NOW - 3600 })),
  'int-07-big': (r) => json(r, 200, active({ pad: 'x'.repeat(2 * 1024 * 1024) })),
  'int-07-not-json': (r) => r.end('{"active":true'),
  'int-07-html': (r) => r.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'),
  'int-07-array': (r) => json(r, 200, [active()]),
  'int-08-cnf': (r) => json(r, 200, active({ cnf: { jkt: 'thumbprint' } })),
  'other-issuer': (r) => json(r, 200, active({ iss: 'https://evil.example' })),
  'refresh-token': (r) => json(r, 200, active({ token_type: 'refresh_token' })),
  'nbf-future': (r) => json(r, 200, active({ nbf: NOW + 3600 })),
  'no-subject': (r) => json(r, 200, { ...active(), sub: undefined, client_id: undefined }),
  'scope-number': (r) => json(r, 200, active({ scope: 7 })),
  good: (r) => json(r, 200, active()),
  'good-2': (r) => json(r, 200, active({ jti: 'jti-good-2', sub: undefined })),
};

let server: LoopbackServer;
let lastAuthorization: string | undefined;
const revoked = new Set<string>();

before(async () => {
  server = await startLoopbackServer({
    '/introspect': (request, response, body) => {
      lastAuthorization = request.headers.authorization;
      const expected = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID).replace(/%20/g, '+')}:${encodeURIComponent(CLIENT_SECRET).replace(/%20/g, '+')}`).toString('base64')}`;
      if (request.headers.authorization !== expected) {
        json(response, 401, { error: 'invalid_client' });
        return;
      }
      const form = new URLSearchParams(body.toString());
      const value = form.get('token') ?? '';
      if (form.get('token_type_hint') !== 'access_token') {
        json(response, 400, { error: 'invalid_request' });
        return;
      }
      if (revoked.has(value)) {
        json(response, 200, { active: false });
        return;
      }
      const answer = answers[value.replace(/-n\d+$/, '')];
      if (answer) answer(response);
      else json(response, 200, { active: false });
    },
    '/introspect-elsewhere': (_request, response) => json(response, 200, active()),
  });
});
after(() => server.close());

function makeVerifier(clock = { now: NOW * 1000 }, overrides: Record<string, unknown> = {}) {
  return createIntrospectionVerifier({
    url: `${server.origin}/introspect`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    issuer: ISSUER,
    audiences: [AUDIENCE],
    allowedScopes: ALLOWED_SCOPES,
    tokenIdSecret: TOKEN_ID_SECRET,
    fetch: createGuardedFetch({ allowLoopback: true, timeoutMs: 500 }),
    now: () => clock.now,
    ...overrides,
  });
}

const hits = () => server.hits.get('/introspect') ?? 0;

describe('INT-01..08: the introspection answer is read strictly', () => {
  const cases: [string, string, RequestErrorCode][] = [
    ['INT-01 active false', 'int-01-inactive', 'AuthTokenRevoked'],
    ['INT-02 active "true"', 'int-02-active-string', 'AuthTokenRevoked'],
    ['INT-02 active 1', 'int-02-active-one', 'AuthTokenRevoked'],
    ['INT-02 active missing', 'int-02-active-missing', 'AuthTokenRevoked'],
    ['INT-03 endpoint answers 500', 'int-03-500', 'AuthUnavailable'],
    [
      'INT-03 endpoint answers 302 (not followed, credentials stay)',
      'int-03-302',
      'AuthUnavailable',
    ],
    ['INT-03 connection reset', 'int-03-reset', 'AuthUnavailable'],
    ['INT-03 endpoint too slow', 'int-03-slow', 'AuthUnavailable'],
    ['INT-04 no aud', 'int-04-no-aud', 'AuthInvalidAudience'],
    ['INT-04 another audience', 'int-04-other-aud', 'AuthInvalidAudience'],
    ['INT-05 no exp', 'int-05-no-exp', 'AuthTokenInvalid'],
    ['INT-05 exp in the past', 'int-05-exp-past', 'AuthTokenExpired'],
    ['INT-07 2 MiB body', 'int-07-big', 'AuthUnavailable'],
    ['INT-07 invalid JSON', 'int-07-not-json', 'AuthUnavailable'],
    ['INT-07 text/html', 'int-07-html', 'AuthUnavailable'],
    ['INT-07 a JSON array', 'int-07-array', 'AuthUnavailable'],
    ['INT-08 cnf.jkt (DPoP-bound)', 'int-08-cnf', 'AuthTokenInvalid'],
    ['another issuer', 'other-issuer', 'AuthInvalidIssuer'],
    ['a refresh token', 'refresh-token', 'AuthTokenInvalid'],
    ['nbf in the future', 'nbf-future', 'AuthTokenExpired'],
    ['neither sub nor client_id', 'no-subject', 'AuthTokenInvalid'],
    ['scope of the wrong type', 'scope-number', 'AuthTokenInvalid'],
    ['a token with characters no bearer token has', 'bad token', 'AuthTokenInvalid'],
    ['a token over the length cap', 'x'.repeat(8193), 'AuthTokenInvalid'],
  ];
  for (const [name, value, code] of cases) {
    test(name, async () => {
      await rejectsWith(makeVerifier().verify(value), code);
    });
  }
  test('INT-03: the redirect target was never asked', () => {
    assert.equal(server.hits.get('/introspect-elsewhere') ?? 0, 0);
  });
  test('positive control: an active token for this audience verifies', async () => {
    const verified = await makeVerifier().verify('good');
    assert.equal(verified.subject, 'alice');
    assert.equal(verified.clientId, 'client-1');
    assert.deepEqual(verified.scopes, ['files:read']);
    assert.equal(verified.audience, AUDIENCE);
    assert.equal(verified.expiresAt, NOW + 600);
    assert.match(verified.tokenIdHash, /^[0-9a-f]{64}$/);
    assert.equal(lastAuthorization?.startsWith('Basic '), true);
  });
  test('without sub the client id is the subject (client credentials)', async () => {
    const verified = await makeVerifier().verify('good-2');
    assert.equal(verified.subject, 'client-1');
  });
  test('wrong client credentials fail closed', async () => {
    await rejectsWith(
      makeVerifier(undefined, { clientSecret: 'wrong' }).verify('good'),
      'AuthUnavailable',
    );
  });
});

describe('INT-05, 06, 10: caching', () => {
  test('an active answer is reused for at most 60 s, so a revocation shows within that bound', async () => {
    const clock = { now: NOW * 1000 };
    const verifier = makeVerifier(clock);
    const start = hits();
    await verifier.verify('good-n1');
    await verifier.verify('good-n1');
    assert.equal(hits() - start, 1);
    revoked.add('good-n1');
    clock.now += 59_000;
    await verifier.verify('good-n1');
    assert.equal(hits() - start, 1);
    clock.now += 1_000;
    await rejectsWith(verifier.verify('good-n1'), 'AuthTokenRevoked');
    assert.equal(hits() - start, 2);
  });
  test('a configured TTL above 60 s is capped at 60 s', async () => {
    const clock = { now: NOW * 1000 };
    const verifier = makeVerifier(clock, { cacheTtlSeconds: 3600 });
    await verifier.verify('good-n2');
    revoked.add('good-n2');
    clock.now += 60_000;
    await rejectsWith(verifier.verify('good-n2'), 'AuthTokenRevoked');
  });
  test('an answer is never reused past the token exp', async () => {
    const clock = { now: NOW * 1000 };
    const verifier = makeVerifier(clock, { clockSkewSeconds: 0 });
    await verifier.verify('good-n3');
    clock.now = (NOW + 600) * 1000;
    // The cached answer has lapsed; the endpoint is asked again and the claims are judged now.
    await rejectsWith(verifier.verify('good-n3'), 'AuthTokenExpired');
  });
  test('INT-10: refusals are cached briefly, so a repeated bad token costs one call', async () => {
    const clock = { now: NOW * 1000 };
    const verifier = makeVerifier(clock);
    const start = hits();
    for (let index = 0; index < 20; index++) {
      await rejectsWith(verifier.verify('int-01-inactive-n4'), 'AuthTokenRevoked');
    }
    assert.equal(hits() - start, 1);
    clock.now += 5_000;
    await rejectsWith(verifier.verify('int-01-inactive-n4'), 'AuthTokenRevoked');
    assert.equal(hits() - start, 2);
  });
  test('concurrent checks of one token share one call', async () => {
    const verifier = makeVerifier();
    const start = hits();
    await Promise.all(Array.from({ length: 20 }, () => verifier.verify('good-n5')));
    assert.equal(hits() - start, 1);
  });
  test('failures of the endpoint are not cached', async () => {
    const verifier = makeVerifier();
    const start = hits();
    await rejectsWith(verifier.verify('int-03-500-n6'), 'AuthUnavailable');
    await rejectsWith(verifier.verify('int-03-500-n6'), 'AuthUnavailable');
    assert.equal(hits() - start, 2);
  });
});

describe('INT-09: a JWT-shaped token that fails verification never reaches introspection', () => {
  const keys = testKeys();
  async function gateway(jwksRoute: boolean) {
    const jwks = await startLoopbackServer({
      '/jwks': (_q, s) => json(s, 200, { keys: [keys.rs.jwk] }),
    });
    const yaml = `
remote_mcp:
  enabled: true
  public_url: https://gateway.example
  issuer: ${ISSUER}
  ${jwksRoute ? `jwks_url: ${jwks.origin}/jwks` : ''}
  allowed_scopes: [files:read, files:write]
  token_id_hmac_secret_env: HMAC
  introspection:
    url: ${server.origin}/introspect
    client_id: "${CLIENT_ID}"
    client_secret_env: INTROSPECTION_SECRET
safety: { remote_mcp_enabled: true }
development: { allow_loopback_urls: true }
upstreams:
  - { name: files, path: /mcp, command: node }
`;
    const loaded = loadConfigText(yaml, {
      env: { HMAC: HMAC_SECRET, INTROSPECTION_SECRET: CLIENT_SECRET },
    });
    return { jwks, verifier: createVerifierFromConfig(loaded, { now: () => NOW * 1000 }) };
  }
  const forged = () => token(keys.attacker, claims());
  const cases: [string, () => string, RequestErrorCode][] = [
    ['a forged JWT', forged, 'AuthTokenInvalid'],
    ['an expired JWT', () => token(keys.rs, claims({ exp: NOW - 3600 })), 'AuthTokenExpired'],
    [
      'a JWT for another audience',
      () => token(keys.rs, claims({ aud: 'https://other.example' })),
      'AuthInvalidAudience',
    ],
    ['three dot-separated garbage segments', () => 'abc.def.ghi', 'AuthTokenInvalid'],
  ];
  for (const [name, build, code] of cases) {
    test(name, async () => {
      const { jwks, verifier } = await gateway(true);
      try {
        const start = hits();
        await rejectsWith(verifier.verify(build()), code);
        assert.equal(hits() - start, 0);
      } finally {
        await jwks.close();
      }
    });
  }
  test('positive control: opaque tokens go to introspection, JWTs to the key set', async () => {
    const { jwks, verifier } = await gateway(true);
    try {
      assert.deepEqual(verifier.modes, ['jwt', 'introspection']);
      const start = hits();
      assert.equal((await verifier.verify('good')).subject, 'alice');
      assert.equal(hits() - start, 1);
      const verified = await verifier.verify(
        token(keys.rs, claims({ aud: 'https://gateway.example/mcp' })),
      );
      assert.equal(verified.subject, 'alice');
      assert.equal(hits() - start, 1);
    } finally {
      await jwks.close();
    }
  });
  test('with introspection only, every token is introspected', async () => {
    const { jwks, verifier } = await gateway(false);
    try {
      assert.deepEqual(verifier.modes, ['introspection']);
      const start = hits();
      await rejectsWith(verifier.verify(forged()), 'AuthTokenRevoked');
      assert.equal(hits() - start, 1);
    } finally {
      await jwks.close();
    }
  });
});
