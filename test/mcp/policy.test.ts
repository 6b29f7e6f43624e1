import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import {
  filterInitializeResponse,
  filterToolsListResponse,
  McpPolicy,
  parseMessageText,
  SCOPE_META_KEY,
} from '../../src/mcp/index.ts';

const policy = new McpPolicy({
  toolScopes: { read_file: 'files:read', write_file: 'files:write' },
  methodScopes: { resources: 'files:read', prompts: undefined, completion: undefined },
});

const call = (name: string) =>
  parseMessageText(
    JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name } }),
  ).message;
const request = (method: string, params: Record<string, unknown> = {}) =>
  parseMessageText(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })).message;
const notification = (method: string) =>
  parseMessageText(JSON.stringify({ jsonrpc: '2.0', method })).message;

interface Denied {
  readonly name: string;
  readonly message: ReturnType<typeof call>;
  readonly scopes: readonly string[];
  readonly code: string;
}

/**
 * SCOPE-01/02/03/08 (docs/security-cases.md): each call refused with the right code; positive
 * controls follow.
 */
const denied: Denied[] = [
  {
    name: 'tool without its scope',
    message: call('write_file'),
    scopes: ['files:read'],
    code: 'AuthMissingScope',
  },
  { name: 'no scopes at all', message: call('read_file'), scopes: [], code: 'AuthMissingScope' },
  {
    name: 'scope prefix is not the scope',
    message: call('read_file'),
    scopes: ['files:rea', 'files:read_all'],
    code: 'AuthMissingScope',
  },
  {
    name: 'scope case differs',
    message: call('read_file'),
    scopes: ['FILES:READ'],
    code: 'AuthMissingScope',
  },
  {
    name: 'scope with whitespace',
    message: call('read_file'),
    scopes: [' files:read'],
    code: 'AuthMissingScope',
  },
  {
    name: 'unmapped tool',
    message: call('admin_tool'),
    scopes: ['files:read', 'files:write'],
    code: 'McpToolDenied',
  },
  {
    name: 'tool name case variant',
    message: call('READ_FILE'),
    scopes: ['files:read'],
    code: 'McpToolDenied',
  },
  {
    name: 'tool name with trailing space',
    message: call('read_file '),
    scopes: ['files:read'],
    code: 'McpToolDenied',
  },
  {
    name: 'tool name with zero-width space',
    message: call('read\u200b_file'),
    scopes: ['files:read'],
    code: 'McpToolDenied',
  },
  {
    name: 'tool name with a homoglyph',
    message: call('rеad_file'),
    scopes: ['files:read'],
    code: 'McpToolDenied',
  },
  {
    name: 'tool named __proto__',
    message: call('__proto__'),
    scopes: ['files:read'],
    code: 'McpToolDenied',
  },
  {
    name: 'tool named constructor',
    message: call('constructor'),
    scopes: ['files:read'],
    code: 'McpToolDenied',
  },
  {
    name: 'tools/call without a name',
    message: request('tools/call'),
    scopes: ['files:read'],
    code: 'RequestMalformed',
  },
  {
    name: 'resources/read without its scope',
    message: request('resources/read', { uri: 'x' }),
    scopes: [],
    code: 'AuthMissingScope',
  },
  {
    name: 'prompts/get with no method scope configured',
    message: request('prompts/get', { name: 'p' }),
    scopes: ['files:read'],
    code: 'McpMethodDenied',
  },
  {
    name: 'completion/complete with no method scope configured',
    message: request('completion/complete'),
    scopes: ['files:read'],
    code: 'McpMethodDenied',
  },
  {
    name: 'unknown method',
    message: request('admin/shutdown'),
    scopes: ['files:read'],
    code: 'McpMethodDenied',
  },
  {
    name: 'tasks/get (not in the policy)',
    message: request('tasks/get'),
    scopes: ['files:read'],
    code: 'McpMethodDenied',
  },
  {
    name: 'sampling/createMessage sent by a client',
    message: request('sampling/createMessage'),
    scopes: ['files:read'],
    code: 'McpMethodDenied',
  },
  {
    name: 'notification outside notifications/',
    message: notification('tools/call'),
    scopes: ['files:read'],
    code: 'McpMethodDenied',
  },
];

describe('per-method and per-tool authorization', () => {
  for (const testCase of denied) {
    it(`refuses: ${testCase.name}`, () => {
      assert.throws(
        () => policy.authorize(testCase.message, new Set(testCase.scopes)),
        (error) => error instanceof RequestError && error.code === testCase.code,
      );
    });
  }

  it('names the missing scope', () => {
    assert.throws(
      () => policy.authorize(call('write_file'), new Set(['files:read'])),
      (error) =>
        error instanceof RequestError &&
        error.status === 403 &&
        error.details.scope === 'files:write' &&
        /files:write/.test(error.message),
    );
  });

  it('positive control: token-only methods, mapped tools and scoped families pass', () => {
    const none = new Set<string>();
    for (const method of ['initialize', 'ping', 'logging/setLevel']) {
      assert.equal(policy.authorize(request(method), none).requirement.type, 'token');
    }
    assert.equal(
      policy.authorize(notification('notifications/initialized'), none).filterToolsList,
      false,
    );
    assert.equal(policy.authorize(request('tools/list'), none).filterToolsList, true);
    const response = parseMessageText('{"jsonrpc":"2.0","id":3,"result":{}}').message;
    assert.equal(policy.authorize(response, none).requirement.type, 'token');
    assert.deepEqual(policy.authorize(call('read_file'), new Set(['files:read'])).requirement, {
      type: 'scope',
      scope: 'files:read',
      tool: 'read_file',
    });
    assert.equal(
      policy.authorize(request('resources/read', { uri: 'x' }), new Set(['files:read'])).requirement
        .type,
      'scope',
    );
  });

  it('a "*" entry is the default scope for unmapped tools', () => {
    const withDefault = new McpPolicy({
      toolScopes: { '*': 'files:read', write_file: 'files:write' },
      methodScopes: {},
    });
    assert.equal(withDefault.toolScope('anything'), 'files:read');
    assert.equal(withDefault.toolScope('write_file'), 'files:write');
    assert.throws(
      () => withDefault.authorize(call('anything'), new Set()),
      /needs scope files:read/,
    );
  });
});

describe('tools/list filtering (SCOPE-12)', () => {
  const upstreamAnswer = {
    jsonrpc: '2.0',
    id: 7,
    result: {
      tools: [
        { name: 'read_file', inputSchema: { type: 'object' }, _meta: { other: 1 } },
        { name: 'write_file', inputSchema: { type: 'object' } },
        { name: 'admin_tool', inputSchema: { type: 'object' } },
        { name: '__proto__', inputSchema: { type: 'object' } },
        'junk',
      ],
      nextCursor: 'c',
    },
  };

  it('keeps only the tools the scopes allow, each marked with its scope', () => {
    const out = JSON.parse(
      filterToolsListResponse(upstreamAnswer, policy, new Set(['files:read'])),
    );
    assert.deepEqual(out.result.tools, [
      {
        name: 'read_file',
        inputSchema: { type: 'object' },
        _meta: { other: 1, [SCOPE_META_KEY]: 'files:read' },
      },
    ]);
    assert.equal(out.result.nextCursor, 'c');
    assert.equal(out.id, 7);
  });

  it('an answer that is not a tool list becomes a JSON-RPC error, never a pass', () => {
    const out = JSON.parse(
      filterToolsListResponse(
        { jsonrpc: '2.0', id: 7, result: { tools: 'all' } },
        policy,
        new Set(),
      ),
    );
    assert.equal(out.error.code, -32603);
    assert.equal(out.result, undefined);
  });

  it('positive control: with every scope, every mapped tool is listed', () => {
    const out = JSON.parse(
      filterToolsListResponse(upstreamAnswer, policy, new Set(['files:read', 'files:write'])),
    );
    assert.deepEqual(
      out.result.tools.map((tool: { name: string }) => tool.name),
      ['read_file', 'write_file'],
    );
  });
});

describe('initialize filtering', () => {
  const upstreamAnswer = {
    jsonrpc: '2.0',
    id: 0,
    result: {
      protocolVersion: '2025-11-25',
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true },
        prompts: {},
        completions: {},
        logging: {},
        tasks: { requests: { tools: { call: {} } } },
      },
      serverInfo: { name: 'upstream', version: '1' },
    },
  };

  it('drops tasks, and every family the policy refuses outright', () => {
    const out = JSON.parse(filterInitializeResponse(upstreamAnswer, policy));
    assert.deepEqual(Object.keys(out.result.capabilities).sort(), [
      'logging',
      'resources',
      'tools',
    ]);
    assert.equal(out.result.serverInfo.name, 'upstream');
  });

  it('positive control: with every family scoped, only tasks goes', () => {
    const open = new McpPolicy({
      toolScopes: {},
      methodScopes: { resources: 'a', prompts: 'a', completion: 'a' },
    });
    const out = JSON.parse(filterInitializeResponse(upstreamAnswer, open));
    assert.deepEqual(Object.keys(out.result.capabilities).sort(), [
      'completions',
      'logging',
      'prompts',
      'resources',
      'tools',
    ]);
  });
});
