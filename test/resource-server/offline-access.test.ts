import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../src/config/index.ts';
import {
  buildProtectedResourceMetadata,
  challengeOptionsFor,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';

/*
 * RS-09 (docs/security-cases.md), MCP 2026-07-28 authorization, "Refresh Tokens": a protected resource never advertises
 * `offline_access`, neither in its metadata's scopes_supported nor in a challenge's scope, however
 * it is configured. Each case configures it somewhere; the last is the positive control.
 */

function configWith(allowed: string, toolScopes: string): string {
  return `
remote_mcp:
  enabled: true
  public_url: https://gateway.example
  issuer: https://auth.example/
  jwks_url: https://auth.example/jwks
  allowed_scopes: ${allowed}
  token_id_hmac_secret_env: HMAC
safety: { remote_mcp_enabled: true }
upstreams:
  - name: files
    path: /mcp
    command: node
    tool_scopes: ${toolScopes}
`;
}

const cases: readonly {
  readonly name: string;
  readonly allowed: string;
  readonly toolScopes: string;
  readonly expected: readonly string[];
}[] = [
  {
    name: 'allowed, no route scopes: every allowed scope but offline_access',
    allowed: '[files:read, offline_access, files:write]',
    toolScopes: '{}',
    expected: ['files:read', 'files:write'],
  },
  {
    name: 'allowed and mapped to a tool',
    allowed: '[files:read, offline_access]',
    toolScopes: '{ read_file: files:read, sync: offline_access }',
    expected: ['files:read'],
  },
  {
    name: 'the default tool scope',
    allowed: '[offline_access, files:read]',
    toolScopes: "{ '*': offline_access, read_file: files:read }",
    expected: ['files:read'],
  },
  {
    name: 'the only allowed scope',
    allowed: '[offline_access]',
    toolScopes: '{}',
    expected: [],
  },
  {
    name: 'positive control: other scopes are advertised as configured',
    allowed: '[files:read, files:write]',
    toolScopes: '{ read_file: files:read, write_file: files:write }',
    expected: ['files:read', 'files:write'],
  },
];

describe('protected resource metadata and challenges never advertise offline_access', () => {
  for (const { name, allowed, toolScopes, expected } of cases) {
    test(name, () => {
      const loaded = loadConfigText(configWith(allowed, toolScopes), {
        env: { HMAC: HMAC_SECRET },
      });
      assert.deepEqual(buildProtectedResourceMetadata(loaded, 'files').scopes_supported, expected);
      assert.deepEqual(challengeOptionsFor(loaded, 'files').scope, expected);
    });
  }
});
