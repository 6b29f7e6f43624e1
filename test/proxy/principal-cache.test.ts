/**
 * One Principal per verified token: the verifier's cache hands out the same VerifiedToken for
 * the same token, and the authentication stage builds the caller it describes once. What the
 * Principal carries must still be right for that token (audiences, expiry, the re-check streams
 * use) and must never carry over to another token string.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import { verifyClosed } from '../../src/proxy/index.ts';
import type { AccessTokenVerifier, VerifiedToken } from '../../src/resource-server/index.ts';

function verifiedToken(overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    subject: 'alice',
    clientId: 'client-a',
    scopes: ['files:read'],
    audience: 'https://gw.example/files',
    expiresAt: 1_900_000_000,
    tokenIdHash: 'hash-a',
    claims: { aud: ['https://gw.example/files', 'https://gw.example/notes'] },
    ...overrides,
  };
}

/** Hands out one VerifiedToken object for every token it accepts, like a verifier's cache hit. */
function cachingVerifier(verified: VerifiedToken, refused: Set<string>) {
  const seen: string[] = [];
  const verifier: AccessTokenVerifier = {
    async verify(token) {
      seen.push(token);
      if (refused.has(token)) throw new RequestError('AuthTokenRevoked', 'revoked');
      return verified;
    },
  };
  return { verifier, seen };
}

describe('the Principal built for a cached verified token', () => {
  it('is the same object for the same token, with its audiences and expiry', async () => {
    const { verifier } = cachingVerifier(verifiedToken(), new Set());
    const first = await verifyClosed(verifier, 'token-a');
    const second = await verifyClosed(verifier, 'token-a');
    assert.equal(first, second);
    assert.deepEqual(first.audiences, ['https://gw.example/files', 'https://gw.example/notes']);
    assert.equal(first.expiresAt, 1_900_000_000);
    assert.equal(first.senderConstrained, undefined);
    assert.ok(Object.isFrozen(first));
  });

  it('re-checks its own token, never the token the cache entry was first built for', async () => {
    const refused = new Set<string>();
    const { verifier, seen } = cachingVerifier(verifiedToken(), refused);
    const a = await verifyClosed(verifier, 'token-a');
    const b = await verifyClosed(verifier, 'token-b');
    assert.notEqual(a, b);
    refused.add('token-b');
    seen.length = 0;
    assert.equal(await b.stillValid?.(), false);
    assert.deepEqual(seen, ['token-b']);
    // Positive control: the other token still verifies.
    seen.length = 0;
    assert.equal(await a.stillValid?.(), true);
    assert.deepEqual(seen, ['token-a']);
  });

  it('is sender-constrained only for a bound token', async () => {
    const bound = cachingVerifier(verifiedToken({ boundKey: 'jkt-1' }), new Set()).verifier;
    const plain = cachingVerifier(verifiedToken(), new Set()).verifier;
    assert.equal((await verifyClosed(bound, 'token-c')).senderConstrained, true);
    assert.equal((await verifyClosed(plain, 'token-d')).senderConstrained, undefined);
  });
});
