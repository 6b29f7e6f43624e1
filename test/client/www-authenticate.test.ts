import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerChallenge } from '../../src/client/index.ts';

describe('WWW-Authenticate parsing (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1)', () => {
  const cases: {
    name: string;
    header: string | null;
    expect: ReturnType<typeof bearerChallenge>;
  }[] = [
    { name: 'no header', header: null, expect: undefined },
    { name: 'another scheme only', header: 'Basic realm="x"', expect: undefined },
    {
      name: 'typical MCP 401',
      header:
        'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read"',
      expect: {
        scope: 'files:read',
        resourceMetadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
      },
    },
    {
      name: '403 insufficient_scope, parameters in another order',
      header:
        'Bearer error="insufficient_scope", scope="a b  c", resource_metadata="https://x/m", error_description="need more"',
      expect: {
        error: 'insufficient_scope',
        errorDescription: 'need more',
        scope: 'a b c',
        resourceMetadata: 'https://x/m',
      },
    },
    {
      name: 'Bearer after another challenge with token68',
      header: 'Basic dXNlcjpwYXNz==, Bearer realm="r", error=invalid_token',
      expect: { error: 'invalid_token' },
    },
    {
      name: 'case-insensitive scheme and names, token values',
      header: 'bearer Scope=files:read, RESOURCE_METADATA=https://x/m',
      expect: { scope: 'files:read', resourceMetadata: 'https://x/m' },
    },
    {
      name: 'escaped quotes inside a quoted value',
      header: 'Bearer error_description="say \\"hi\\", then, go", scope="s"',
      expect: { errorDescription: 'say "hi", then, go', scope: 's' },
    },
    {
      name: 'a URL in one value that contains scope= does not confuse the scope',
      header: 'Bearer resource_metadata="https://x/m?scope=evil", scope="good"',
      expect: { resourceMetadata: 'https://x/m?scope=evil', scope: 'good' },
    },
    { name: 'empty values are absent', header: 'Bearer scope="", error=""', expect: {} },
    {
      name: 'first value of a repeated parameter wins',
      header: 'Bearer scope="one", scope="two"',
      expect: { scope: 'one' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(bearerChallenge(c.header), c.expect));
  }
});
