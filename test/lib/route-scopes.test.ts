import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../src/config/index.ts';
import { routeScopes } from '../../src/lib/route-scopes.ts';
import { McpPolicy } from '../../src/mcp/index.ts';
import {
  buildProtectedResourceMetadata,
  challengeOptionsFor,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';

/* One derivation of a route's scopes: what local trust grants, what the protected resource
 * metadata advertises and what a 401 challenge suggests are the same list. */

const yaml = `
remote_mcp:
  enabled: true
  public_url: https://gateway.example
  issuer: https://auth.example/
  jwks_url: https://auth.example/jwks
  allowed_scopes: [files:read, files:write, docs:read, other]
  token_id_hmac_secret_env: HMAC
safety: { remote_mcp_enabled: true }
upstreams:
  - name: files
    path: /mcp
    command: node
    tool_scopes: { read_file: files:read, write_file: files:write, "*": files:read }
    method_scopes: { resources: docs:read }
  - name: bare
    path: /bare
    command: node
`;

describe('routeScopes', () => {
  test('tool scopes then method scopes, each once, in configuration order', () => {
    assert.deepEqual(
      routeScopes({
        toolScopes: { a: 's1', b: 's2', c: 's1' },
        methodScopes: { resources: 's3', prompts: undefined, completion: 's2' },
      }),
      ['s1', 's2', 's3'],
    );
    assert.deepEqual(routeScopes({ toolScopes: {}, methodScopes: {} }), []);
  });

  test('policy, protected resource metadata and challenge agree for a route', () => {
    const loaded = loadConfigText(yaml, { env: { HMAC: HMAC_SECRET } });
    const upstream = loaded.config.upstreams[0];
    assert.ok(upstream);
    const policy = new McpPolicy({
      toolScopes: upstream.tool_scopes,
      methodScopes: upstream.method_scopes,
    });
    const expected = ['files:read', 'files:write', 'docs:read'];
    assert.deepEqual(policy.allScopes(), expected);
    assert.deepEqual(buildProtectedResourceMetadata(loaded, 'files').scopes_supported, expected);
    assert.deepEqual(challengeOptionsFor(loaded, 'files').scope, expected);
    // Positive control of the fallback: a route that requires nothing offers every allowed scope.
    assert.deepEqual(buildProtectedResourceMetadata(loaded, 'bare').scopes_supported, [
      'files:read',
      'files:write',
      'docs:read',
      'other',
    ]);
  });
});
