import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import {
  gatewayDocument,
  httpUpstream,
  loadTestConfig,
  stdioTestUpstream,
} from '../helpers/gateway.ts';

describe('config: protocol eras', () => {
  it('takes protocol per upstream (default auto) and method_scopes.listen', () => {
    const loaded = loadTestConfig(
      gatewayDocument({
        auth: 'none',
        allowedScopes: ['files:read', 'mcp:resources', 'mcp:prompts', 'files:write', 'mcp:listen'],
        upstreams: [
          httpUpstream('http://127.0.0.1:9/mcp', {
            protocol: '2026-07-28',
            method_scopes: { listen: 'mcp:listen' },
          }),
          httpUpstream('http://127.0.0.1:9/mcp', { name: 'old', path: '/old' }),
          stdioTestUpstream({ name: 'child', path: '/child' }),
        ],
      }),
    );
    const [modern, old, child] = loaded.config.upstreams;
    assert.equal(modern?.protocol, '2026-07-28');
    assert.equal(modern?.method_scopes.listen, 'mcp:listen');
    assert.equal(old?.protocol, 'auto');
    const described = describeConfig(loaded, { transport: 'http', enableRemoteMcpFlag: true }) as {
      routes: { upstream: string; protocol: string }[];
    };
    assert.deepEqual(
      described.routes.map((route) => [route.upstream, route.protocol]),
      [
        ['files', '2026-07-28'],
        ['old', 'auto'],
        ['child', '2025-11-25'],
      ],
    );
    assert.equal(child?.protocol, 'auto');
  });

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    [
      'a stdio upstream pinned to 2026-07-28',
      stdioTestUpstream({ protocol: '2026-07-28' }),
      /upstreams\[0\]\.protocol/,
    ],
    [
      'an unknown protocol',
      httpUpstream('http://127.0.0.1:9/mcp', { protocol: '2024-11-05' }),
      /upstreams\[0\]\.protocol/,
    ],
    [
      'a listen scope outside allowed_scopes',
      httpUpstream('http://127.0.0.1:9/mcp', { method_scopes: { listen: 'nope' } }),
      /method_scopes\.listen/,
    ],
  ];
  for (const [name, upstream, path] of refusals) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => loadTestConfig(gatewayDocument({ auth: 'none', upstreams: [upstream] })),
        (error: unknown) =>
          error instanceof ConfigError && error.issues.some((issue) => path.test(issue.path)),
      );
    });
  }
});
