/**
 * The RFC check modules on their own: redirect-URI syntax and matching (with a property test),
 * PKCE, client_id URLs, strict JSON, the grace seal, scrypt, and the admin bootstrap. Case ids
 * in parentheses are defined in docs/security-cases.md.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { clientIdUrlProblem } from '../../src/authorization-server/checks/client-id-url.ts';
import { parseClientMetadataJson } from '../../src/authorization-server/checks/json-body.ts';
import {
  checkCodeChallenge,
  checkCodeVerifier,
} from '../../src/authorization-server/checks/pkce.ts';
import {
  matchRedirectUri,
  redirectUriProblem,
} from '../../src/authorization-server/checks/redirect-uri.ts';
import { parseScope } from '../../src/authorization-server/checks/scope.ts';
import { openGraceBlob, sealForGrace } from '../../src/authorization-server/crypto.ts';
import {
  ADMIN_PASSWORD_ENV,
  ensureAdminUser,
  hashPassword,
  verifyPassword,
} from '../../src/authorization-server/index.ts';
import { RequestError } from '../../src/errors/index.ts';
import { MemoryStore } from '../../src/store/index.ts';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof RequestError ? error.code : String(error);
  }
};

describe('redirect URIs', () => {
  it('accepts https and loopback http in normalized form', () => {
    for (const uri of [
      'https://app.example/cb',
      'https://app.example/',
      'http://127.0.0.1/cb',
      'http://127.0.0.1:8080/cb?x=1',
      'http://localhost:3000/callback',
      'http://[::1]:9/cb',
    ]) {
      assert.equal(redirectUriProblem(uri), undefined, uri);
    }
  });

  it('matches loopback registrations on any port but nothing else loosely', () => {
    const registered = ['http://127.0.0.1/cb', 'https://app.example/cb'];
    assert.equal(
      matchRedirectUri(registered, 'http://127.0.0.1:50000/cb'),
      'http://127.0.0.1:50000/cb',
    );
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1/cb'), 'http://127.0.0.1/cb');
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1:5/cb?x'), undefined);
    assert.equal(matchRedirectUri(registered, 'https://app.example:8443/cb'), undefined);
    assert.equal(matchRedirectUri(registered, 'http://localhost:5/cb'), undefined);
  });

  it('property: a match is the exact registered string, or the same loopback URI on another port', () => {
    const registered = ['http://127.0.0.1/cb', 'https://app.example/cb', 'http://[::1]:8000/x/y'];
    const pieces = fc.constantFrom(
      'http://',
      'https://',
      'HTTP://',
      '127.0.0.1',
      '[::1]',
      'localhost',
      'app.example',
      'evil.example',
      '@',
      ':',
      ':80',
      ':8000',
      '/',
      '/cb',
      '/x/y',
      '%2e',
      '..',
      '?',
      '#',
      '\\',
      ' ',
      '.',
      'x',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 8 }), (parts) => {
        const candidate = parts.join('');
        const match = matchRedirectUri(registered, candidate);
        if (match === undefined) return true;
        if (registered.includes(candidate)) return match === candidate;
        const asked = new URL(candidate);
        return (
          match === candidate &&
          asked.href === candidate &&
          asked.protocol === 'http:' &&
          registered.some((uri) => {
            const known = new URL(uri);
            return (
              known.protocol === 'http:' &&
              known.hostname === asked.hostname &&
              known.pathname === asked.pathname &&
              known.search === asked.search
            );
          })
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe('PKCE', () => {
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const challenge = createHash('sha256').update(verifier).digest('base64url');

  it('RFC 7636 Appendix B: the example verifier matches its challenge', () => {
    assert.equal(challenge, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    assert.equal(
      code(() => checkCodeVerifier(verifier, challenge)),
      undefined,
    );
    assert.equal(
      code(() => checkCodeChallenge(challenge, 'S256')),
      undefined,
    );
  });

  it('refuses plain, missing methods, bad challenges and bad verifiers', () => {
    assert.equal(
      code(() => checkCodeChallenge(challenge, 'plain')),
      'OAuthInvalidRequest',
    );
    assert.equal(
      code(() => checkCodeChallenge(challenge, undefined)),
      'OAuthInvalidRequest',
    );
    assert.equal(
      code(() => checkCodeChallenge(undefined, 'S256')),
      'OAuthInvalidRequest',
    );
    assert.equal(
      code(() => checkCodeChallenge(`${challenge}=`, 'S256')),
      'OAuthInvalidRequest',
    );
    assert.equal(
      code(() => checkCodeVerifier(`${verifier}x`, challenge)),
      'OAuthInvalidGrant',
    );
    assert.equal(
      code(() => checkCodeVerifier(verifier.slice(0, 42), challenge)),
      'OAuthInvalidGrant',
    );
  });
});

describe('client_id URLs (CM-01)', () => {
  it('accepts https URLs with a path in normalized form', () => {
    assert.equal(clientIdUrlProblem('https://client.example/metadata.json', false), undefined);
    assert.equal(clientIdUrlProblem('https://client.example:8443/a/b', false), undefined);
  });

  it('refuses the CIMD §3 violations and repaired forms', () => {
    for (const url of [
      'http://client.example/doc',
      'https://u@client.example/doc',
      'https://@client.example/doc',
      'https://client.example/doc#',
      'https://client.example/./doc',
      'https://client.example/a/%2E%2e/doc',
      'https:client.example/doc',
      'https:/client.example/doc',
      'https:///doc',
      'https://client.example',
      'https://client.example/',
      'https://client.example:443/doc',
      'https://CLIENT.example/doc',
      'https://client.example/doc?x=1',
      'https://127.0.0.1/doc',
      'https://localhost/doc',
    ]) {
      assert.notEqual(clientIdUrlProblem(url, false), undefined, url);
    }
    assert.equal(
      clientIdUrlProblem('http://127.0.0.1:9/doc', true),
      undefined,
      'development switch',
    );
  });
});

describe('strict JSON', () => {
  it('refuses duplicate members at any depth and excessive nesting; accepts the rest', () => {
    assert.deepEqual(parseClientMetadataJson('{"a":{"b":1,"c":[{"b":2}]},"b":"\\"b\\""}'), {
      a: { b: 1, c: [{ b: 2 }] },
      b: '"b"',
    });
    assert.equal(
      code(() => parseClientMetadataJson('{"a":1,"a":2}')),
      'OAuthInvalidClientMetadata',
    );
    assert.equal(
      code(() => parseClientMetadataJson('{"x":{"a":1,"\\u0061":2}}')),
      'OAuthInvalidClientMetadata',
    );
    assert.equal(
      code(() => parseClientMetadataJson(`${'['.repeat(17)}${']'.repeat(17)}`)),
      'OAuthInvalidClientMetadata',
    );
    assert.ok(code(() => parseClientMetadataJson('{"a":')) !== undefined);
  });
});

describe('scope parsing', () => {
  it('splits on single spaces and refuses anything else', () => {
    assert.deepEqual(parseScope('a b a'), ['a', 'b']);
    assert.equal(parseScope(undefined), undefined);
    for (const bad of ['', ' a', 'a ', 'a  b', 'a\tb', 'a\u00a0b', 'a"b', 'a\\b']) {
      assert.equal(
        code(() => parseScope(bad)),
        'OAuthInvalidScope',
        JSON.stringify(bad),
      );
    }
  });
});

describe('grace seal', () => {
  it('opens only with the refresh token it was sealed under', () => {
    const blob = sealForGrace('token-A', '{"access_token":"x"}');
    assert.equal(openGraceBlob('token-A', blob), '{"access_token":"x"}');
    assert.equal(openGraceBlob('token-B', blob), undefined);
    const tampered = Buffer.from(blob, 'base64url');
    tampered[14] = (tampered[14] ?? 0) ^ 1;
    assert.equal(openGraceBlob('token-A', tampered.toString('base64url')), undefined);
    assert.doesNotMatch(blob, /access_token/);
  });
});

describe('passwords and the admin bootstrap', () => {
  it('scrypt hashes verify, are salted, and reject malformed encodings', async () => {
    const one = await hashPassword('s3cret password');
    const two = await hashPassword('s3cret password');
    assert.notEqual(one, two);
    assert.equal(await verifyPassword('s3cret password', one), true);
    assert.equal(await verifyPassword('s3cret passwore', one), false);
    assert.equal(await verifyPassword('x', 'plain$text'), false);
  });

  it('creates admin with a one-time password once, then leaves it alone', async () => {
    const store = new MemoryStore();
    const first = await ensureAdminUser(store, { env: {}, now: 1 });
    assert.equal(first.source, 'generated');
    assert.ok(first.password && first.password.length >= 20);
    const user = await store.getUser('admin');
    assert.equal(await verifyPassword(first.password, user?.passwordHash ?? ''), true);
    const second = await ensureAdminUser(store, { env: {}, now: 2 });
    assert.deepEqual(second, { username: 'admin', password: undefined, source: 'existing' });
  });

  it('PORTCULLIS_ADMIN_PASSWORD sets (and resets) the admin password', async () => {
    const store = new MemoryStore();
    await ensureAdminUser(store, { env: {}, now: 1 });
    const fromEnv = await ensureAdminUser(store, {
      env: { [ADMIN_PASSWORD_ENV]: 'from the environment' },
      now: 2,
    });
    assert.equal(fromEnv.source, 'environment');
    const user = await store.getUser('admin');
    assert.equal(await verifyPassword('from the environment', user?.passwordHash ?? ''), true);
  });
});
