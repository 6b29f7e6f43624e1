import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectScope, unionScopes } from '../../src/client/index.ts';

describe('scope selection (MCP 2025-11-25 "Scope Selection Strategy", SEP-835/2350/2207)', () => {
  const grant = 'authorization_code' as const;
  it('takes the challenge first', () => {
    assert.equal(selectScope({ challenge: 'a', resourceScopes: ['b'], grant }), 'a');
  });
  it('else every protected-resource scope', () => {
    assert.equal(selectScope({ resourceScopes: ['a', 'b', 'c'], grant }), 'a b c');
  });
  it('else omits the parameter (never the authorization server list)', () => {
    assert.equal(selectScope({ serverScopes: ['x', 'y'], grant }), undefined);
  });
  it('step-up asks for the union of previous and challenged scopes', () => {
    assert.equal(
      selectScope({ challenge: 'mcp:basic mcp:write', previous: 'mcp:basic', grant }),
      'mcp:basic mcp:write',
    );
    assert.equal(selectScope({ challenge: 'b', previous: 'a', grant }), 'a b');
  });
  it('adds offline_access only when the authorization server lists it', () => {
    assert.equal(
      selectScope({ challenge: 'a', serverScopes: ['a', 'offline_access'], grant }),
      'a offline_access',
    );
    assert.equal(selectScope({ challenge: 'a', serverScopes: ['a'], grant }), 'a');
    assert.equal(
      selectScope({ serverScopes: ['offline_access'], grant }),
      undefined,
      'never turns omitted into a scope',
    );
    assert.equal(
      selectScope({
        challenge: 'a',
        serverScopes: ['offline_access'],
        grant: 'client_credentials',
      }),
      'a',
    );
  });
  it('--scope overrides everything', () => {
    assert.equal(selectScope({ explicit: ' x  y ', challenge: 'a', grant }), 'x y');
  });
  it('unionScopes keeps order and drops duplicates', () => {
    assert.equal(unionScopes('a b', 'b c', undefined, ''), 'a b c');
    assert.equal(unionScopes(undefined, ''), undefined);
  });
});
