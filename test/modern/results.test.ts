import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  discoverFromInitialize,
  filterDiscoverResult,
  initializeFromDiscover,
  markPrivate,
  toLegacyResult,
  toModernResult,
} from '../../src/mcp/modern/results.ts';
import { McpPolicy } from '../../src/mcp/policy.ts';

const narrow = new McpPolicy({ toolScopes: { echo: 'tools:echo' }, methodScopes: {} });
const wide = new McpPolicy({
  toolScopes: { '*': 'tools' },
  methodScopes: { resources: 'res', prompts: 'pr', completion: 'co' },
});

const upstreamDiscover = {
  resultType: 'complete',
  supportedVersions: ['2026-07-28'],
  capabilities: {
    tools: { listChanged: true },
    resources: { subscribe: true },
    prompts: {},
    completions: {},
    tasks: { list: {} },
    logging: {},
  },
  ttlMs: 60_000,
  cacheScope: 'public',
  _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'up', version: '2' } },
};

describe('server/discover through the gateway', () => {
  it('drops the capabilities the policy refuses and keeps the rest', () => {
    const filtered = filterDiscoverResult(upstreamDiscover, narrow);
    assert.deepEqual(Object.keys(filtered.capabilities as object).sort(), ['logging', 'tools']);
    assert.equal(filtered.cacheScope, 'private');
    assert.equal(filtered.ttlMs, 60_000);
    assert.ok((filtered.supportedVersions as string[]).includes('2025-11-25'));
    const open = filterDiscoverResult(upstreamDiscover, wide);
    assert.deepEqual(Object.keys(open.capabilities as object).sort(), [
      'completions',
      'logging',
      'prompts',
      'resources',
      'tools',
    ]);
  });

  it('is built from a legacy initialize result for a bridged upstream', () => {
    const discover = discoverFromInitialize(
      {
        protocolVersion: '2025-11-25',
        capabilities: { tools: {}, prompts: {}, tasks: {} },
        serverInfo: { name: 'everything', version: '1' },
        instructions: 'hi',
      },
      narrow,
    );
    assert.equal(discover.resultType, 'complete');
    assert.deepEqual(discover.capabilities, { tools: {} });
    assert.deepEqual(discover._meta, {
      'io.modelcontextprotocol/serverInfo': { name: 'everything', version: '1' },
    });
    assert.equal(discover.instructions, 'hi');
  });

  it('answers a legacy initialize from a modern upstream discover', () => {
    const legacy = ['2025-11-25', '2025-06-18', '2025-03-26'];
    const filtered = filterDiscoverResult(upstreamDiscover, narrow);
    const init = initializeFromDiscover(filtered, '2025-06-18', legacy);
    assert.equal(init.protocolVersion, '2025-06-18');
    assert.deepEqual(init.serverInfo, { name: 'up', version: '2' });
    assert.deepEqual(Object.keys(init.capabilities as object).sort(), ['logging', 'tools']);
    assert.equal(
      initializeFromDiscover(filtered, '1999-01-01', legacy).protocolVersion,
      '2025-11-25',
    );
  });
});

describe('result shapes across eras', () => {
  it('marks filtered lists private whatever the upstream said', () => {
    assert.deepEqual(markPrivate({ tools: [], ttlMs: 5, cacheScope: 'public' }), {
      tools: [],
      ttlMs: 5,
      cacheScope: 'private',
    });
    assert.deepEqual(markPrivate({ tools: [], ttlMs: -1 }), {
      tools: [],
      ttlMs: 0,
      cacheScope: 'private',
    });
  });
  it('adds the 2026-07-28 fields to a 2025 result and removes them the other way', () => {
    const modern = toModernResult('tools/list', { tools: [] }, { name: 'x', version: '1' });
    assert.deepEqual(modern, {
      tools: [],
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'x', version: '1' } },
    });
    assert.deepEqual(toModernResult('tools/call', { content: [] }), {
      content: [],
      resultType: 'complete',
    });
    assert.deepEqual(toLegacyResult(modern), {
      tools: [],
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'x', version: '1' } },
    });
  });
});
