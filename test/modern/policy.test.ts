import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import type { ModernRequest } from '../../src/mcp/modern/inbound.ts';
import { authorizeModern, modernResponseFilter } from '../../src/mcp/modern/policy.ts';
import { McpPolicy } from '../../src/mcp/policy.ts';

const policy = new McpPolicy({
  toolScopes: { echo: 'tools:echo', confirm: 'tools:confirm' },
  methodScopes: { resources: 'res' },
});
const options = { listenScope: 'mcp:listen' };

function request(method: string, params: Record<string, unknown> = {}): ModernRequest {
  return {
    id: 1,
    method,
    params,
    protocolVersion: '2026-07-28',
    name: typeof params.name === 'string' ? params.name : undefined,
    clientCapabilities: {},
    clientInfo: undefined,
    paramHeaders: {},
  };
}

describe('modern authorization', () => {
  const cases: [string, ModernRequest, string[], string][] = [
    [
      'tool without its scope',
      request('tools/call', { name: 'confirm' }),
      ['tools:echo'],
      'AuthMissingScope',
    ],
    ['unmapped tool', request('tools/call', { name: 'rm' }), ['tools:echo'], 'McpToolDenied'],
    ['unknown method', request('tasks/list'), ['tools:echo'], 'McpMethodDenied'],
    [
      'listen without its scope',
      request('subscriptions/listen', { notifications: { toolsListChanged: true } }),
      ['tools:echo'],
      'AuthMissingScope',
    ],
    [
      'listen for resources without the resources scope',
      request('subscriptions/listen', { notifications: { resourceSubscriptions: ['file:///a'] } }),
      ['mcp:listen'],
      'AuthMissingScope',
    ],
    ['prompts family not enabled', request('prompts/list'), ['tools:echo'], 'McpMethodDenied'],
  ];
  for (const [name, message, scopes, code] of cases) {
    it(`refuses: ${name}`, () => {
      assert.throws(
        () => authorizeModern(policy, message, new Set(scopes), options),
        (error: unknown) => error instanceof RequestError && error.code === code,
      );
    });
  }
  it('refuses listen when no listen scope is configured', () => {
    assert.throws(
      () =>
        authorizeModern(
          policy,
          request('subscriptions/listen', { notifications: {} }),
          new Set(['mcp:listen']),
          { listenScope: undefined },
        ),
      (error: unknown) => error instanceof RequestError && error.code === 'McpMethodDenied',
    );
  });
  it('positive controls: discover on a token, listen with its scopes, a granted tool', () => {
    assert.deepEqual(
      authorizeModern(policy, request('server/discover'), new Set(), options).scopes,
      [],
    );
    assert.deepEqual(
      authorizeModern(
        policy,
        request('subscriptions/listen', {
          notifications: { resourceSubscriptions: ['file:///a'] },
        }),
        new Set(['mcp:listen', 'res']),
        options,
      ).scopes,
      ['mcp:listen', 'res'],
    );
    assert.equal(
      authorizeModern(
        policy,
        request('tools/call', { name: 'echo' }),
        new Set(['tools:echo']),
        options,
      ).requirement.type,
      'scope',
    );
  });
});

describe('modern response filters', () => {
  it('filters tools/list to the granted tools and marks it private', () => {
    const message = request('tools/list');
    const decision = authorizeModern(policy, message, new Set(['tools:echo']), options);
    const filter = modernResponseFilter(message, decision, policy, new Set(['tools:echo']));
    assert.ok(filter);
    const out = JSON.parse(
      filter({
        jsonrpc: '2.0',
        id: 1,
        result: {
          resultType: 'complete',
          tools: [{ name: 'echo' }, { name: 'confirm' }, { name: 'rm' }],
          ttlMs: 100,
          cacheScope: 'public',
        },
      }),
    );
    assert.deepEqual(
      out.result.tools.map((tool: { name: string }) => tool.name),
      ['echo'],
    );
    assert.equal(out.result.cacheScope, 'private');
    assert.equal(out.result.ttlMs, 100);
  });
  it('filters discover capabilities by policy', () => {
    const message = request('server/discover');
    const decision = authorizeModern(policy, message, new Set(), options);
    const filter = modernResponseFilter(message, decision, policy, new Set());
    assert.ok(filter);
    const out = JSON.parse(
      filter({
        jsonrpc: '2.0',
        id: 1,
        result: {
          supportedVersions: ['2026-07-28'],
          capabilities: { tools: {}, prompts: {}, resources: {}, tasks: {} },
        },
      }),
    );
    assert.deepEqual(Object.keys(out.result.capabilities).sort(), ['resources', 'tools']);
    assert.equal(out.result.cacheScope, 'private');
  });
  it('passes errors through untouched', () => {
    const message = request('resources/list');
    const decision = authorizeModern(policy, message, new Set(['res']), options);
    const filter = modernResponseFilter(message, decision, policy, new Set(['res']));
    assert.ok(filter);
    const error = { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'no' } };
    assert.deepEqual(JSON.parse(filter(error)), error);
  });
});
