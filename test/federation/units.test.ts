/** Claim rules, the federated subject, and the sealed token vault. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scopesPermitted } from '../../src/authorization-server/federation/claim-rules.ts';
import { federatedSubject } from '../../src/authorization-server/federation/subject.ts';
import { TokenVault } from '../../src/authorization-server/federation/token-vault.ts';
import { usernameProblem } from '../../src/authorization-server/users.ts';
import type { ClaimRule } from '../../src/config/schema.ts';

const ALLOWED = ['files:read', 'files:write', 'admin'];

describe('claim rules', () => {
  const rules: ClaimRule[] = [
    { claim: 'groups', contains: 'mcp-users', scopes: ['files:read'] },
    { claim: 'groups', contains: 'mcp-admins', scopes: ['files:write', 'admin'] },
    { claim: 'email', ends_with: '@example.com', scopes: ['files:read'] },
    { claim: 'hd', equals: 'example.com', scopes: ['files:write'] },
  ];
  const CASES: { name: string; claims: Record<string, unknown>; expected: string[] }[] = [
    { name: 'a member of mcp-users', claims: { groups: ['mcp-users'] }, expected: ['files:read'] },
    {
      name: 'the union of every matching rule',
      claims: { groups: ['mcp-users', 'mcp-admins'], hd: 'example.com' },
      expected: ['files:read', 'files:write', 'admin'],
    },
    {
      name: 'ends_with ignores case (domains are case-insensitive)',
      claims: { email: 'Jane@EXAMPLE.com' },
      expected: ['files:read'],
    },
    {
      name: 'ends_with is not fooled by a look-alike domain',
      claims: { email: 'jane@example.com.evil.test' },
      expected: [],
    },
    { name: 'equals is exact', claims: { hd: 'example.com.evil.test' }, expected: [] },
    {
      name: 'contains on a list is membership',
      claims: { groups: ['not-mcp-users'] },
      expected: [],
    },
    { name: 'a missing claim matches nothing', claims: {}, expected: [] },
    {
      name: 'an email the provider says is unverified matches nothing',
      claims: { email: 'jane@example.com', email_verified: false },
      expected: [],
    },
    { name: 'a claim of another type matches nothing', claims: { groups: 42 }, expected: [] },
  ];
  for (const entry of CASES) {
    it(entry.name, () => {
      assert.deepEqual(scopesPermitted(rules, entry.claims, ALLOWED), entry.expected);
    });
  }
  it('without rules everybody may have every allowed scope', () => {
    assert.deepEqual(scopesPermitted(undefined, {}, ALLOWED), ALLOWED);
  });
  it('never more than the allowed scopes', () => {
    assert.deepEqual(
      scopesPermitted(
        [{ claim: 'sub', equals: 'x', scopes: ['files:read', 'other'] }],
        { sub: 'x' },
        ['files:read'],
      ),
      ['files:read'],
    );
  });
});

describe('federated subject', () => {
  it('is stable, depends on iss and sub together, and is never a valid local username', () => {
    const a = federatedSubject('https://idp.example', 'alice');
    assert.equal(a, federatedSubject('https://idp.example', 'alice'));
    assert.notEqual(a, federatedSubject('https://other.example', 'alice'));
    assert.notEqual(a, federatedSubject('https://idp.example', 'alice2'));
    // Concatenation ambiguity: ("ab","c") and ("a","bc") differ.
    assert.notEqual(federatedSubject('https://x/ab', 'c'), federatedSubject('https://x/a', 'bc'));
    assert.ok(usernameProblem(a) !== undefined, 'cannot collide with a local user');
    assert.throws(() => federatedSubject('', 'x'));
  });
});

describe('token vault', () => {
  const key1 = Buffer.from('first-key-0123456789abcdefghijklmnop');
  const key2 = Buffer.from('second-key-0123456789abcdefghijklmno');
  const tokens = { accessToken: 'at', refreshToken: 'rt', expiresAt: 1, scope: 'openid' };

  it('seals and opens; the blob holds no token in clear', () => {
    const vault = new TokenVault([key1]);
    const sealed = vault.seal('idp:a', tokens);
    assert.ok(!sealed.includes('at') || !sealed.includes('rt"'));
    assert.ok(
      !Buffer.from(sealed.split('.')[3] ?? '', 'base64url')
        .toString()
        .includes('rt'),
    );
    assert.deepEqual(vault.open('idp:a', sealed), tokens);
  });
  it('a blob copied onto another person does not open (the subject is authenticated data)', () => {
    const vault = new TokenVault([key1]);
    assert.equal(vault.open('idp:b', vault.seal('idp:a', tokens)), undefined);
  });
  it('a tampered blob does not open', () => {
    const vault = new TokenVault([key1]);
    const parts = vault.seal('idp:a', tokens).split('.');
    const body = Buffer.from(parts[3] ?? '', 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    parts[3] = body.toString('base64url');
    assert.equal(vault.open('idp:a', parts.join('.')), undefined);
    assert.equal(vault.open('idp:a', 'garbage'), undefined);
  });
  it('rotation: the newest key seals, older keys still open, a removed key no longer does', () => {
    const old = new TokenVault([key1]).seal('idp:a', tokens);
    const rotated = new TokenVault([key2, key1]);
    assert.deepEqual(rotated.open('idp:a', old), tokens);
    assert.equal(rotated.isStale(old), true);
    const fresh = rotated.seal('idp:a', tokens);
    assert.equal(rotated.isStale(fresh), false);
    assert.equal(new TokenVault([key2]).open('idp:a', old), undefined);
  });
});
