import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RequestErrorCode } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  createAccessTokenVerifier,
  createRemoteKeySource,
} from '../../src/resource-server/index.ts';
import { type Handler, json, startLoopbackServer } from '../helpers/http-server.ts';
import { generateKey, token } from '../helpers/tokens.ts';
import {
  ALLOWED_SCOPES,
  AUDIENCE,
  claims,
  createFixture,
  ISSUER,
  NOW,
  rejectsWith,
  TOKEN_ID_SECRET,
  testKeys,
} from '../helpers/verifier-fixture.ts';

const keys = testKeys();
const jwksHits = (server: { hits: Map<string, number> }) => server.hits.get('/jwks') ?? 0;

// Case ids in this file are defined in docs/security-cases.md.
describe('key rotation and the refetch cool-down (JWT-07, L3, L14)', () => {
  test('new keys verify after one refetch; 1,000 unknown kids cost at most one fetch per cool-down', async () => {
    const fixture = await createFixture({ jwks: { keys: [keys.rs.jwk] }, cooldownMs: 30_000 });
    try {
      const old = token(keys.rs, claims());
      await fixture.verifier.verify(old);
      assert.equal(jwksHits(fixture.server), 1);

      // 1,000 distinct unknown kids, all at once, inside the cool-down: no fetch at all.
      const unknown = Array.from({ length: 1000 }, (_, index) =>
        token(keys.attacker, claims(), { kid: `unknown-${index}` }),
      );
      const burst = await Promise.allSettled(unknown.map((jwt) => fixture.verifier.verify(jwt)));
      assert.ok(burst.every((result) => result.status === 'rejected'));
      assert.equal(jwksHits(fixture.server), 1);

      // The issuer rotates: a new key is published and the old one removed.
      const rotated = generateKey('ES256', 'es-rotated');
      fixture.jwks = { keys: [rotated.jwk] };
      fixture.nowMs += 30_001;

      // After the cool-down, 1,000 unknown kids at once share exactly one fetch…
      const second = await Promise.allSettled(unknown.map((jwt) => fixture.verifier.verify(jwt)));
      assert.ok(second.every((result) => result.status === 'rejected'));
      assert.equal(jwksHits(fixture.server), 2);
      // …and 1,000 more, one after the other, none.
      for (const jwt of unknown)
        await rejectsWith(fixture.verifier.verify(jwt), 'AuthTokenInvalid');
      assert.equal(jwksHits(fixture.server), 2);

      // A token signed with the new key verifies from the set that fetch brought.
      const fresh = token(rotated, claims(), { alg: 'ES256' });
      assert.equal((await fixture.verifier.verify(fresh)).subject, 'alice');
      assert.equal(jwksHits(fixture.server), 2);

      // The old token was cached, but its key is gone: the hit is not honoured.
      await rejectsWith(fixture.verifier.verify(old), 'AuthTokenInvalid');

      // One cool-down later, the next burst costs one fetch again.
      fixture.nowMs += 30_001;
      await Promise.allSettled(unknown.slice(0, 100).map((jwt) => fixture.verifier.verify(jwt)));
      assert.equal(jwksHits(fixture.server), 3);
    } finally {
      await fixture.close();
    }
  });

  test('a new key published inside the cool-down verifies once the cool-down has passed', async () => {
    const fixture = await createFixture({ jwks: { keys: [keys.rs.jwk] }, cooldownMs: 30_000 });
    try {
      await fixture.verifier.warm();
      fixture.jwks = { keys: [keys.rs.jwk, keys.es.jwk] };
      const fresh = token(keys.es, claims());
      await rejectsWith(fixture.verifier.verify(fresh), 'AuthTokenInvalid');
      fixture.nowMs += 30_000;
      assert.equal((await fixture.verifier.verify(fresh)).subject, 'alice');
      assert.equal(jwksHits(fixture.server), 2);
    } finally {
      await fixture.close();
    }
  });

  test('concurrent first requests share one fetch', async () => {
    const fixture = await createFixture();
    try {
      const jwt = token(keys.ed, claims());
      const results = await Promise.all(
        Array.from({ length: 50 }, () => fixture.verifier.verify(jwt)),
      );
      assert.equal(results.length, 50);
      assert.equal(jwksHits(fixture.server), 1);
    } finally {
      await fixture.close();
    }
  });

  test('a set older than its maximum age is refreshed, and removed keys stop verifying', async () => {
    const fixture = await createFixture({
      jwks: { keys: [keys.rs.jwk, keys.es.jwk] },
      maxAgeMs: 600_000,
    });
    try {
      const jwt = token(keys.rs, claims({ exp: NOW + 3000 }));
      await fixture.verifier.verify(jwt);
      fixture.jwks = { keys: [keys.es.jwk] };
      fixture.nowMs += 600_001;
      // This request starts the background refresh and is judged on the set in hand.
      await fixture.verifier.verify(jwt);
      await fixture.keySource.whenIdle();
      assert.equal(jwksHits(fixture.server), 2);
      await rejectsWith(fixture.verifier.verify(jwt), 'AuthTokenInvalid');
      assert.equal(
        (await fixture.verifier.verify(token(keys.es, claims({ exp: NOW + 3000 })))).subject,
        'alice',
      );
    } finally {
      await fixture.close();
    }
  });

  test('unchanged keys keep their identity across a refresh, so cached tokens stay cached', async () => {
    const fixture = await createFixture({
      jwks: { keys: [keys.rs.jwk] },
      maxAgeMs: 1000,
      cooldownMs: 500,
    });
    try {
      const jwt = token(keys.rs, claims());
      await fixture.verifier.verify(jwt);
      const before = fixture.keySource.snapshot()?.keys[0];
      fixture.nowMs += 1001;
      fixture.keySource.snapshot();
      await fixture.keySource.whenIdle();
      assert.equal(jwksHits(fixture.server), 2);
      assert.equal(fixture.keySource.snapshot()?.keys[0], before);
    } finally {
      await fixture.close();
    }
  });

  test('the last good set is kept when a refetch fails', async () => {
    const fixture = await createFixture({ jwks: { keys: [keys.rs.jwk] } });
    try {
      const jwt = token(keys.rs, claims());
      await fixture.verifier.verify(jwt);
      fixture.server.route('/jwks', (_request, response) => response.writeHead(500).end());
      fixture.nowMs += 30_001;
      await rejectsWith(
        fixture.verifier.verify(token(keys.attacker, claims(), { kid: 'new' })),
        'AuthTokenInvalid',
      );
      assert.equal(jwksHits(fixture.server), 2);
      assert.equal(
        (await fixture.verifier.verify(token(keys.rs, claims({ jti: 'other' })))).subject,
        'alice',
      );
    } finally {
      await fixture.close();
    }
  });
});

describe('an unreachable issuer before any key set was loaded', () => {
  test('requests fail with AuthUnavailable and cause at most one fetch per second', async () => {
    const fixture = await createFixture();
    try {
      fixture.server.route('/jwks', (_request, response) => response.writeHead(503).end());
      for (let index = 0; index < 100; index++) {
        await rejectsWith(fixture.verifier.verify(token(keys.rs, claims())), 'AuthUnavailable');
      }
      assert.equal(jwksHits(fixture.server), 1);
      fixture.nowMs += 1000;
      fixture.server.route('/jwks', (_request, response) =>
        json(response, 200, { keys: [keys.rs.jwk] }),
      );
      assert.equal((await fixture.verifier.verify(token(keys.rs, claims()))).subject, 'alice');
      assert.equal(jwksHits(fixture.server), 2);
    } finally {
      await fixture.close();
    }
  });
});

describe('JWT-38, 39: a bad JWKS answer fails closed and is never followed', () => {
  const bigKeys = Array.from({ length: 10_000 }, (_, index) => ({
    ...keys.rs.jwk,
    kid: `k${index}`,
  }));
  const cases: [string, Handler][] = [
    ['302 to another JWKS', (_q, s) => s.writeHead(302, { location: '/good' }).end()],
    ['404', (_q, s) => s.writeHead(404).end()],
    ['500', (_q, s) => s.writeHead(500).end()],
    ['201 with a valid set', (_q, s) => json(s, 201, { keys: [keys.rs.jwk] })],
    ['null', (_q, s) => json(s, 200, null)],
    ['{}', (_q, s) => json(s, 200, {})],
    ['{"keys":null}', (_q, s) => json(s, 200, { keys: null })],
    ['{"keys":[null]}', (_q, s) => json(s, 200, { keys: [null] })],
    ['an empty key set', (_q, s) => json(s, 200, { keys: [] })],
    ['not JSON', (_q, s) => s.end('<html>')],
    ['10 000 keys', (_q, s) => json(s, 200, { keys: bigKeys.slice(0, 5000) })],
    ['a 2 MB body', (_q, s) => json(s, 200, { keys: [keys.rs.jwk], pad: 'x'.repeat(2_000_000) })],
    [
      'JWT-38 a private RSA key',
      (_q, s) => json(s, 200, { keys: [{ ...keys.rs.jwk, d: 'AQAB' }] }),
    ],
    [
      'JWT-38 a symmetric key',
      (_q, s) => json(s, 200, { keys: [keys.rs.jwk, { kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }),
    ],
    [
      'a drip that outlasts the deadline',
      (_q, s) => {
        s.writeHead(200);
        const timer = setInterval(() => s.write(' '), 50);
        s.on('close', () => clearInterval(timer));
      },
    ],
  ];

  async function verifierFor(handler: Handler) {
    const server = await startLoopbackServer({
      '/jwks': handler,
      '/good': (_q, s) => json(s, 200, { keys: [keys.rs.jwk] }),
    });
    const keySource = createRemoteKeySource({
      jwksUrl: `${server.origin}/jwks`,
      issuer: ISSUER,
      algorithms: ['RS256'],
      fetch: createGuardedFetch({ allowLoopback: true, timeoutMs: 300 }),
      now: () => NOW * 1000,
    });
    const verifier = createAccessTokenVerifier({
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithms: ['RS256'],
      tokenIdSecret: TOKEN_ID_SECRET,
      allowedScopes: ALLOWED_SCOPES,
      keys: keySource,
      now: () => NOW * 1000,
    });
    return { server, verifier };
  }

  for (const [name, handler] of cases) {
    test(`${name}: AuthUnavailable, nothing followed`, async () => {
      const { server, verifier } = await verifierFor(handler);
      try {
        await rejectsWith(verifier.verify(token(keys.rs, claims())), 'AuthUnavailable');
        assert.equal(server.hits.get('/good') ?? 0, 0);
      } finally {
        await server.close();
      }
    });
  }
  test('positive control: a valid JWKS from the same server verifies', async () => {
    const { server, verifier } = await verifierFor((_q, s) =>
      json(s, 200, { keys: [keys.rs.jwk] }),
    );
    try {
      assert.equal((await verifier.verify(token(keys.rs, claims()))).subject, 'alice');
    } finally {
      await server.close();
    }
  });
  test('10 000 keys in one set are refused whole', async () => {
    const { server, verifier } = await verifierFor((_q, s) => json(s, 200, { keys: bigKeys }));
    try {
      // 10 000 keys do not fit in 1 MiB either; either cap refuses the set.
      await rejectsWith(verifier.verify(token(keys.rs, claims())), 'AuthUnavailable');
    } finally {
      await server.close();
    }
  });
});

describe('metadata_url discovery with an issuer check', () => {
  async function discovery(metadata: (origin: string) => unknown) {
    const server = await startLoopbackServer({
      '/jwks': (_q, s) => json(s, 200, { keys: [keys.rs.jwk] }),
    });
    server.route('/.well-known/openid-configuration', (_q, s) =>
      json(s, 200, metadata(server.origin)),
    );
    const keySource = createRemoteKeySource({
      metadataUrl: `${server.origin}/.well-known/openid-configuration`,
      issuer: ISSUER,
      algorithms: ['RS256'],
      fetch: createGuardedFetch({ allowLoopback: true }),
      now: () => NOW * 1000,
    });
    const verifier = createAccessTokenVerifier({
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithms: ['RS256'],
      tokenIdSecret: TOKEN_ID_SECRET,
      allowedScopes: ALLOWED_SCOPES,
      keys: keySource,
      now: () => NOW * 1000,
    });
    return { server, verifier };
  }
  const cases: [string, (origin: string) => unknown, RequestErrorCode][] = [
    [
      'another issuer',
      (origin) => ({ issuer: 'https://evil.example', jwks_uri: `${origin}/jwks` }),
      'AuthUnavailable',
    ],
    [
      'the issuer with a trailing slash',
      (origin) => ({ issuer: `${ISSUER}/`, jwks_uri: `${origin}/jwks` }),
      'AuthUnavailable',
    ],
    ['no issuer', (origin) => ({ jwks_uri: `${origin}/jwks` }), 'AuthUnavailable'],
    ['no jwks_uri', () => ({ issuer: ISSUER }), 'AuthUnavailable'],
    [
      'MCP-11 jwks_uri with a file: URL',
      () => ({ issuer: ISSUER, jwks_uri: 'file:///etc/passwd' }),
      'AuthUnavailable',
    ],
    [
      'jwks_uri at the metadata address',
      () => ({ issuer: ISSUER, jwks_uri: 'http://169.254.169.254/jwks' }),
      'AuthUnavailable',
    ],
    ['not an object', () => ['nope'], 'AuthUnavailable'],
  ];
  for (const [name, metadata, code] of cases) {
    test(name, async () => {
      const { server, verifier } = await discovery(metadata);
      try {
        await rejectsWith(verifier.verify(token(keys.rs, claims())), code);
        assert.equal(jwksHits(server), 0);
      } finally {
        await server.close();
      }
    });
  }
  test('positive control: the right issuer and a jwks_uri verify', async () => {
    const { server, verifier } = await discovery((origin) => ({
      issuer: ISSUER,
      jwks_uri: `${origin}/jwks`,
    }));
    try {
      assert.equal((await verifier.verify(token(keys.rs, claims()))).subject, 'alice');
      assert.equal(jwksHits(server), 1);
    } finally {
      await server.close();
    }
  });
});
