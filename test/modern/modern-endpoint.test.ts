import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/lib/log.ts';
import { McpPolicy } from '../../src/mcp/index.ts';
import { classifyInbound, type ModernRequest } from '../../src/mcp/modern/inbound.ts';
import { RequestStateSealer } from '../../src/mcp/modern/request-state.ts';
import type { Principal } from '../../src/proxy/auth-stage.ts';
import { ModernHttpForwarder } from '../../src/proxy/modern/http-forward.ts';
import { ModernToLegacyBridge } from '../../src/proxy/modern/legacy-bridge.ts';
import type { ListenEnd } from '../../src/proxy/modern/listen-guard.ts';
import {
  type ListenSettings,
  type ModernUpstream,
  serveModern,
} from '../../src/proxy/modern/modern-endpoint.ts';
import { buildRouteTable } from '../../src/proxy/routes.ts';
import { StdioConnector } from '../../src/proxy/upstreams/stdio-session.ts';
import { asResponse } from '../helpers/answers.ts';
import { gatewayDocument, loadTestConfig, stdioTestUpstream } from '../helpers/gateway.ts';
import {
  startModernUpstream,
  type ModernUpstream as TestUpstream,
} from '../helpers/modern-upstream.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};
let nextId = 1;
function modern(method: string, params: Record<string, unknown> = {}) {
  const body = { jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: META } };
  const headers: Record<string, string> = {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
  };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const outcome = classifyInbound({ httpMethod: 'POST', headers, body });
  assert.equal(outcome.kind, 'modern');
  return { request: (outcome as { request: ModernRequest }).request, text: JSON.stringify(body) };
}
function principal(subject: string, scopes: string[]): Principal {
  return { subject, clientId: 'c', scopes: new Set(scopes), tokenIdHash: undefined };
}
async function lastMessage(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream'))
    return JSON.parse(text);
  const data = text.split('\n').filter((line) => line.startsWith('data: '));
  return JSON.parse(data.at(-1)?.slice(6) ?? '{}');
}

const policy = new McpPolicy({
  toolScopes: { echo: 'tools:echo', read_file: 'files:read' },
  methodScopes: {},
});

describe('modern endpoint', () => {
  let upstream: TestUpstream;
  let forwarder: ModernHttpForwarder;
  let bridge: ModernToLegacyBridge;
  const revoked = new Set<string>();
  const ends: ListenEnd[] = [];
  const listen: ListenSettings = {
    scope: 'mcp:listen',
    keepAliveMs: 0,
    checkEveryMs: 10,
    stillAuthorized: async (who) => !revoked.has(who.subject),
    expiresAt: () => undefined,
    onEnd: (_who, reason) => ends.push(reason),
  };
  let modernUpstream: ModernUpstream;
  let legacyUpstream: ModernUpstream;

  before(async () => {
    upstream = await startModernUpstream();
    const logger = createLogger({ level: 'silent' });
    forwarder = new ModernHttpForwarder({ url: upstream.url, headers: {}, logger });
    const route = buildRouteTable(
      loadTestConfig(gatewayDocument({ auth: 'none', upstreams: [stdioTestUpstream()] })),
    ).routes[0];
    assert.ok(route);
    const connector = new StdioConnector(route, logger);
    bridge = new ModernToLegacyBridge({
      upstream: 'files',
      open: (id, who) => connector.open(id, who),
      sealer: new RequestStateSealer({ key: randomBytes(32), ttlSeconds: 60 }),
      logger,
      maxSessions: 4,
      idleTimeoutMs: 60_000,
      parkTimeoutMs: 60_000,
    });
    modernUpstream = { era: 'modern', forwarder };
    legacyUpstream = { era: 'legacy', bridge };
  });
  after(async () => {
    await bridge.close();
    await forwarder.close();
    await upstream.close();
  });

  const serve = (
    target: ModernUpstream,
    message: { request: ModernRequest; text: string },
    who: Principal,
    signal = new AbortController().signal,
  ) =>
    serveModern({
      policy,
      upstream: target,
      listen,
      ...message,
      principal: who,
      requestId: 'r',
      signal,
    }).then(asResponse);

  it('refuses before the upstream sees anything (positive control last)', async () => {
    const seen = upstream.requests.length;
    const cases: [string, () => Promise<Response>, string][] = [
      [
        'listen without its scope',
        () =>
          serve(
            modernUpstream,
            modern('subscriptions/listen', { notifications: { toolsListChanged: true } }),
            principal('a', ['tools:echo']),
          ),
        'AuthMissingScope',
      ],
      [
        'tool without scope',
        () =>
          serve(
            modernUpstream,
            modern('tools/call', { name: 'echo', arguments: { text: 'x' } }),
            principal('a', []),
          ),
        'AuthMissingScope',
      ],
      [
        'unmapped tool',
        () =>
          serve(
            modernUpstream,
            modern('tools/call', { name: 'confirm', arguments: { what: 'x' } }),
            principal('a', ['tools:echo']),
          ),
        'McpToolDenied',
      ],
      [
        'method the policy denies',
        () => serve(modernUpstream, modern('tasks/list'), principal('a', ['tools:echo'])),
        'McpMethodDenied',
      ],
    ];
    for (const [name, attempt, code] of cases) {
      await assert.rejects(
        attempt,
        (error: unknown) => error instanceof RequestError && error.code === code,
        name,
      );
    }
    assert.equal(upstream.requests.length, seen, 'the upstream saw nothing');
    const ok = await lastMessage(
      await serve(
        modernUpstream,
        modern('tools/call', { name: 'echo', arguments: { text: 'x' } }),
        principal('a', ['tools:echo']),
      ),
    );
    assert.deepEqual((ok.result as { content: unknown }).content, [{ type: 'text', text: 'x' }]);
  });

  it('serves discover filtered and lists private, on both eras', async () => {
    for (const target of [modernUpstream, legacyUpstream]) {
      const discover = await lastMessage(
        await serve(target, modern('server/discover'), principal('a', [])),
      );
      const result = discover.result as {
        capabilities: Record<string, unknown>;
        cacheScope: string;
        supportedVersions: string[];
      };
      assert.ok(result.capabilities.tools, target.era);
      assert.equal(result.capabilities.prompts, undefined, target.era);
      assert.equal(result.cacheScope, 'private');
      assert.ok(result.supportedVersions.includes('2026-07-28'));
      const list = await lastMessage(
        await serve(target, modern('tools/list'), principal('a', ['tools:echo', 'files:read'])),
      );
      const tools = list.result as { tools: { name: string }[]; cacheScope: string };
      assert.equal(tools.cacheScope, 'private', target.era);
      const expected = target.era === 'modern' ? ['echo'] : ['read_file'];
      assert.deepEqual(
        tools.tools.map((tool) => tool.name),
        expected,
      );
    }
  });

  it('ends a listen stream when the grant is revoked, on both eras', async () => {
    for (const target of [modernUpstream, legacyUpstream]) {
      ends.length = 0;
      const response = await serve(
        target,
        modern('subscriptions/listen', { notifications: { toolsListChanged: true } }),
        principal(`l-${target.era}`, ['mcp:listen']),
      );
      assert.equal(response.status, 200);
      const reader = response.body?.getReader();
      assert.ok(reader);
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /notifications\/subscriptions\/acknowledged/, target.era);
      revoked.add(`l-${target.era}`);
      while (!(await reader.read()).done) {
        // Drain until the guard ends the stream.
      }
      assert.deepEqual(ends, ['revoked'], target.era);
    }
  });
});
