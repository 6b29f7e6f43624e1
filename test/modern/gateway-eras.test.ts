import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { RequestError } from '../../src/errors/index.ts';
import type { VerifiedToken } from '../../src/resource-server/verifier.ts';
import { type ChildServer, startEverythingHttp } from '../helpers/child-servers.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  EVERYTHING_ENTRY,
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  TEST_SCOPES,
  type TestGateway,
} from '../helpers/gateway.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * Both protocol eras through the real HTTP gateway: official clients of each era (the v2 SDK
 * pinned to 2026-07-28, in auto mode and in its default legacy mode; the v1 SDK) against a 2025
 * upstream (server-everything over stdio) and a 2026-07-28-only upstream, plus the negative
 * tables of the modern path (status, JSON-RPC code, nothing reaching the upstream, positive
 * control last).
 */

const RECORDER = fileURLToPath(new URL('../helpers/stdio-recorder.ts', import.meta.url));

/** The test double, able to revoke a token (as the co-located server's revocation does). */
class RevocableVerifier extends TestDoubleVerifier {
  readonly revoked = new Set<string>();
  override async verify(token: string): Promise<VerifiedToken> {
    if (this.revoked.has(token))
      throw new RequestError('AuthTokenRevoked', 'the token was revoked');
    return super.verify(token);
  }
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
};

describe('protocol eras through the gateway', () => {
  const verifier = new RevocableVerifier();
  const dir = tempDir();
  const record = join(dir, 'everything.jsonl');
  let modern: ModernUpstream;
  let legacyHttp: RecordingUpstream;
  let everythingHttp: ChildServer;
  let gateway: TestGateway;
  const scopes = [...TEST_SCOPES, 'mcp:listen'];
  const alice = verifier.issue('alice', scopes);
  const bob = verifier.issue('bob', scopes);
  const noListen = verifier.issue('carol', TEST_SCOPES);

  const everythingSeen = () =>
    readFileSync(record, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '').length;

  before(async () => {
    modern = await startModernUpstream();
    legacyHttp = await startRecordingUpstream();
    everythingHttp = await startEverythingHttp();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        allowedScopes: scopes,
        upstreams: [
          {
            name: 'everything',
            path: '/everything',
            command: process.execPath,
            args: [RECORDER, record, process.execPath, EVERYTHING_ENTRY, 'stdio'],
            tool_scopes: { '*': 'files:read' },
            method_scopes: { listen: 'mcp:listen' },
          },
          httpUpstream(modern.url, {
            name: 'modern',
            path: '/modern',
            tool_scopes: { '*': 'files:read' },
            method_scopes: { listen: 'mcp:listen', resources: 'mcp:resources' },
          }),
          httpUpstream(legacyHttp.url, {
            name: 'legacy-http',
            path: '/legacy-http',
            tool_scopes: { '*': 'files:read' },
          }),
          httpUpstream(everythingHttp.url, {
            name: 'everything-http',
            path: '/everything-http',
            tool_scopes: { '*': 'files:read' },
          }),
          // Misdeclared on purpose: a modern-only server pinned to the 2025 wire.
          httpUpstream(modern.url, {
            name: 'misdeclared',
            path: '/misdeclared',
            protocol: '2025-11-25',
            tool_scopes: { '*': 'files:read' },
          }),
        ],
      }),
      { auth: testDoubleAuth(verifier) },
    );
  });
  after(async () => {
    await gateway?.close();
    await modern?.close();
    await legacyHttp?.close();
    await everythingHttp?.stop();
  });

  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  async function v2Client(
    path: string,
    mode: 'legacy' | 'auto' | { pin: '2026-07-28' },
    token = alice,
  ): Promise<ClientV2> {
    const client = new ClientV2(
      { name: `v2-${typeof mode === 'string' ? mode : 'pinned'}`, version: '1.0.0' },
      { capabilities: { elicitation: {} }, versionNegotiation: { mode } },
    );
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept',
      content: { ok: true, name: 'Ada', check: true },
    }));
    await client.connect(
      new TransportV2(new URL(gateway.url(path)), { requestInit: { headers: auth(token) } }),
    );
    return client;
  }

  for (const mode of ['legacy', 'auto', { pin: '2026-07-28' }] as const) {
    const label = typeof mode === 'string' ? mode : 'pinned 2026-07-28';
    it(`v2 client (${label}) calls tools on both kinds of upstream`, async () => {
      for (const path of ['/everything', '/modern']) {
        const client = await v2Client(path, mode);
        try {
          const tools = await client.listTools();
          assert.ok(
            tools.tools.some((tool) => tool.name === 'echo'),
            `${label} ${path}`,
          );
          const args = path === '/modern' ? { text: 'hi' } : { message: 'hi' };
          const result = await client.callTool({ name: 'echo', arguments: args });
          assert.match(JSON.stringify(result.content), /hi/, `${label} ${path}`);
        } finally {
          await client.close();
        }
      }
    });
  }

  it('v2 pinned client reaches a 2025 HTTP upstream through the held-session bridge', async () => {
    const client = await v2Client('/legacy-http', { pin: '2026-07-28' });
    try {
      const result = await client.callTool({ name: 'read_file', arguments: { path: 'a.txt' } });
      assert.deepEqual(result.content, [{ type: 'text', text: 'contents of a.txt' }]);
    } finally {
      await client.close();
    }
    const methods = legacyHttp.methods();
    assert.equal(methods.filter((method) => method === 'initialize').length, 1);
    assert.deepEqual(legacyHttp.toolCalls(), ['read_file']);
    const ready = (await (await fetch(gateway.url('/readyz'))).json()) as {
      checks: Record<string, string>;
    };
    assert.match(ready.checks['protocol:legacy-http'] ?? '', /^legacy/);
  });

  it("relays an upstream's refusal of initialize instead of dropping the connection", async () => {
    const response = await fetch(gateway.url('/misdeclared'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...auth(alice),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'x', version: '1' },
        },
      }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as {
      error: { code: number; data: { supported: string[] } };
    };
    assert.equal(body.error.code, -32022);
    assert.equal(response.headers.get('mcp-session-id'), null);
  });

  it('v2 pinned client answers elicitations through both bridges', async () => {
    const direct = await v2Client('/modern', { pin: '2026-07-28' });
    try {
      const result = await direct.callTool({ name: 'confirm', arguments: { what: 'deploy' } });
      assert.deepEqual(result.content, [{ type: 'text', text: 'confirmed deploy: true' }]);
    } finally {
      await direct.close();
    }
    // The held 2025 session over stdio, and over Streamable HTTP (the parked exchange is an
    // open upstream request there).
    for (const path of ['/everything', '/everything-http']) {
      const bridged = await v2Client(path, { pin: '2026-07-28' });
      try {
        const result = await bridged.callTool({
          name: 'trigger-elicitation-request',
          arguments: {},
        });
        assert.match(JSON.stringify(result.content), /Ada/, path);
      } finally {
        await bridged.close();
      }
    }
  });

  it('v1 SDK client (2025) reaches both upstreams, elicitation included', async () => {
    for (const path of ['/everything', '/modern']) {
      const client = new ClientV1(
        { name: 'v1', version: '1.0.0' },
        { capabilities: { elicitation: {} } },
      );
      client.setRequestHandler(ElicitRequestSchema, async () => ({
        action: 'accept',
        content: { ok: true, name: 'Ada', check: true },
      }));
      await client.connect(
        new TransportV1(new URL(gateway.url(path)), { requestInit: { headers: auth(alice) } }),
      );
      try {
        const args = path === '/modern' ? { text: 'hi' } : { message: 'hi' };
        const result = await client.callTool({ name: 'echo', arguments: args });
        assert.match(JSON.stringify(result.content), /hi/, path);
        const tool = path === '/modern' ? 'confirm' : 'trigger-elicitation-request';
        const elicited = await client.callTool({
          name: tool,
          arguments: path === '/modern' ? { what: 'x' } : {},
        });
        assert.match(
          JSON.stringify(elicited.content),
          path === '/modern' ? /confirmed x: true/ : /Ada/,
        );
      } finally {
        await client.close();
      }
    }
    assert.ok(
      !modern.methods().includes('initialize') || modern.methods().indexOf('server/discover') >= 0,
    );
  });

  function modernPost(
    path: string,
    body: Record<string, unknown>,
    headers: Record<string, string>,
    token = alice,
  ): Promise<Response> {
    return fetch(gateway.url(path), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...auth(token),
        ...headers,
      },
      body: JSON.stringify(body),
    });
  }

  /** A POST whose headers may repeat a line (fetch would join repeated values into one). */
  function postWithHeaderLines(
    path: string,
    body: Record<string, unknown>,
    headers: Record<string, string | string[]>,
  ): Promise<Response> {
    const text = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const outgoing = http.request(
        gateway.url(path),
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'content-length': String(Buffer.byteLength(text)),
            ...auth(alice),
            ...headers,
          },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () =>
            resolve(new Response(Buffer.concat(chunks), { status: incoming.statusCode ?? 0 })),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(text);
    });
  }

  const call = (name: string, meta: Record<string, unknown> = META) => ({
    jsonrpc: '2.0',
    id: 9,
    method: 'tools/call',
    params: { name, arguments: { text: 'x', message: 'x' }, _meta: meta },
  });
  const good = {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': 'echo',
  };
  const b64 = (value: string) => `=?base64?${Buffer.from(value).toString('base64')}?=`;

  for (const path of ['/modern', '/everything']) {
    it(`refuses malformed 2026-07-28 requests on ${path} before the upstream (positive control last)`, async () => {
      const cases: [string, () => Promise<Response>, number, number | string][] = [
        [
          'Mcp-Method differs',
          () => modernPost(path, call('echo'), { ...good, 'mcp-method': 'tools/list' }),
          400,
          -32020,
        ],
        [
          'Mcp-Method case variant',
          () => modernPost(path, call('echo'), { ...good, 'mcp-method': 'Tools/Call' }),
          400,
          -32020,
        ],
        [
          'Mcp-Method missing',
          () =>
            modernPost(path, call('echo'), {
              'mcp-protocol-version': '2026-07-28',
              'mcp-name': 'echo',
            }),
          400,
          -32020,
        ],
        [
          'Mcp-Name differs',
          () => modernPost(path, call('echo'), { ...good, 'mcp-name': 'get-env' }),
          400,
          -32020,
        ],
        [
          'Mcp-Name case variant',
          () => modernPost(path, call('echo'), { ...good, 'mcp-name': 'Echo' }),
          400,
          -32020,
        ],
        [
          'Mcp-Name base64 of another',
          () => modernPost(path, call('echo'), { ...good, 'mcp-name': b64('get-env') }),
          400,
          -32020,
        ],
        [
          'Mcp-Name missing',
          () =>
            modernPost(path, call('echo'), {
              'mcp-protocol-version': '2026-07-28',
              'mcp-method': 'tools/call',
            }),
          400,
          -32020,
        ],
        [
          'version header differs from _meta',
          () => modernPost(path, call('echo'), { ...good, 'mcp-protocol-version': '2025-11-25' }),
          400,
          -32020,
        ],
        [
          'unsupported version',
          () =>
            modernPost(
              path,
              call('echo', { ...META, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' }),
              { ...good, 'mcp-protocol-version': '2027-01-01' },
            ),
          400,
          -32022,
        ],
        [
          'listen without its scope',
          () =>
            modernPost(
              path,
              {
                jsonrpc: '2.0',
                id: 3,
                method: 'subscriptions/listen',
                params: { notifications: { toolsListChanged: true }, _meta: META },
              },
              { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'subscriptions/listen' },
              noListen,
            ),
          403,
          'AuthMissingScope',
        ],
        [
          'Mcp-Method sent twice (two header lines)',
          () =>
            postWithHeaderLines(path, call('echo'), {
              ...good,
              'mcp-method': ['tools/call', 'tools/call'],
            }),
          400,
          'RequestMalformed',
        ],
        [
          'Mcp-Name sent twice (two header lines)',
          () => postWithHeaderLines(path, call('echo'), { ...good, 'mcp-name': ['echo', 'echo'] }),
          400,
          'RequestMalformed',
        ],
        [
          'GET without a session',
          () =>
            fetch(gateway.url(path), { headers: { accept: 'text/event-stream', ...auth(alice) } }),
          405,
          'MethodNotAllowed',
        ],
        [
          'DELETE without a session',
          () => fetch(gateway.url(path), { method: 'DELETE', headers: auth(alice) }),
          405,
          'MethodNotAllowed',
        ],
      ];
      const seen = path === '/modern' ? () => modern.requests.length : everythingSeen;
      const before = seen();
      for (const [name, attempt, status, code] of cases) {
        const response = await attempt();
        assert.equal(response.status, status, name);
        const body = (await response.json()) as {
          error?: { code: number; data?: { code: string } } | string;
          code?: string;
        };
        if (typeof code === 'number') {
          assert.equal((body.error as { code: number }).code, code, name);
        } else if (typeof body.error === 'object') {
          // A refusal after the body was read: a JSON-RPC error carrying the catalogue code.
          assert.equal(body.error.code, -31000, name);
          assert.equal(body.error.data?.code, code, name);
        } else {
          assert.equal(body.code, code, name);
        }
      }
      assert.equal(seen(), before, 'the upstream saw nothing');
      // Positive control: the same request, well-formed (base64 Mcp-Name and a stray session id).
      const ok = await modernPost(path, call('echo'), {
        ...good,
        'mcp-name': b64('echo'),
        'mcp-session-id': 'stray',
        'last-event-id': '7',
        'mcp-param-region': 'eu-west',
      });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('mcp-session-id'), null, 'never minted or echoed');
      assert.match(await ok.text(), /"resultType":"complete"/);
      if (path === '/modern') {
        const seenHeaders = modern.requests.at(-1)?.headers ?? {};
        assert.equal(seenHeaders['mcp-param-region'], 'eu-west', 'Mcp-Param-* forwarded');
        assert.equal(seenHeaders['mcp-session-id'], undefined, 'no session id upstream');
        assert.equal(seenHeaders['last-event-id'], undefined, 'no Last-Event-ID upstream');
        assert.equal(seenHeaders.authorization, undefined, 'the client token stays at the gateway');
      }
    });
  }

  it("relays the upstream's 404 / -32601 for a method it lacks; a method the policy refuses stays 403", async () => {
    const list = (method: string) =>
      modernPost(
        '/modern',
        { jsonrpc: '2.0', id: 4, method, params: { _meta: META } },
        {
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': method,
        },
      );
    const before = modern.requests.length;
    const denied = await list('prompts/list');
    assert.equal(denied.status, 403);
    const refusal = (await denied.json()) as {
      jsonrpc: string;
      id: number;
      error: { code: number; data: { code: string } };
    };
    assert.deepEqual(
      [refusal.jsonrpc, refusal.id, refusal.error.code, refusal.error.data.code],
      ['2.0', 4, -31000, 'McpMethodDenied'],
    );
    const removed = await list('tasks/list');
    assert.equal(removed.status, 404, 'a method the revision does not define');
    assert.equal(((await removed.json()) as { error: { code: number } }).error.code, -32601);
    assert.equal(modern.requests.length, before, 'the upstream saw nothing');
    const unknown = await list('resources/list');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: number } }).error.code, -32601);
  });

  it('refuses a tampered, foreign or replayed requestState on the bridge (positive control last)', async () => {
    const first = await modernPost('/everything', call('trigger-elicitation-request'), {
      ...good,
      'mcp-name': 'trigger-elicitation-request',
    });
    const text = await first.text();
    const state = /"requestState":"([^"]+)"/.exec(text)?.[1];
    const key = /"inputRequests":\{"([^"]+)"/.exec(text)?.[1];
    assert.ok(state !== undefined && key !== undefined, text);
    const retry = (requestState: string, token = alice) =>
      modernPost(
        '/everything',
        {
          ...call('trigger-elicitation-request'),
          params: {
            ...call('trigger-elicitation-request').params,
            inputResponses: { [key]: { action: 'accept', content: { name: 'Ada', check: true } } },
            requestState,
          },
        },
        { ...good, 'mcp-name': 'trigger-elicitation-request' },
        token,
      );
    const before = everythingSeen();
    for (const [name, attempt] of [
      ['tampered', () => retry(`${state.slice(0, -4)}AAAA`)],
      ['replayed by another subject', () => retry(state, bob)],
    ] as const) {
      const response = await attempt();
      assert.equal(response.status, 400, name);
      assert.equal(
        ((await response.json()) as { error: { code: number } }).error.code,
        -32602,
        name,
      );
    }
    assert.equal(everythingSeen(), before, 'the upstream saw nothing');
    const ok = await retry(state);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /Ada/);
  });

  it('ends a subscriptions/listen stream within seconds of revocation', async () => {
    for (const path of ['/modern', '/everything']) {
      const token = verifier.issue(`listener${path}`, scopes);
      const response = await modernPost(
        path,
        {
          jsonrpc: '2.0',
          id: 5,
          method: 'subscriptions/listen',
          params: { notifications: { toolsListChanged: true }, _meta: META },
        },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'subscriptions/listen' },
        token,
      );
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('x-accel-buffering'), 'no');
      const reader = response.body?.getReader();
      assert.ok(reader);
      assert.match(new TextDecoder().decode((await reader.read()).value), /acknowledged/);
      verifier.revoked.add(token);
      const revokedAt = Date.now();
      while (!(await reader.read()).done) {
        // Keep-alives until the stream ends.
      }
      assert.ok(
        Date.now() - revokedAt < 2500,
        `${path}: ended ${Date.now() - revokedAt} ms after revocation`,
      );
    }
  });

  it('serves discover with a valid token only, its capabilities filtered, and reports eras in /readyz', async () => {
    const discover = { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } };
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' };
    const anonymous = await fetch(gateway.url('/modern'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(discover),
    });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /resource_metadata=/);
    await anonymous.body?.cancel();
    for (const path of ['/modern', '/everything']) {
      const response = await modernPost(path, discover, headers);
      assert.equal(response.status, 200);
      const text = await response.text();
      const body = JSON.parse(
        text.includes('data: ') ? (text.split('data: ').at(-1) ?? '') : text,
      ) as {
        result: { capabilities: Record<string, unknown>; cacheScope: string };
      };
      assert.ok(body.result.capabilities.tools, path);
      assert.equal(
        body.result.capabilities.prompts,
        undefined,
        `${path}: prompts refused by policy`,
      );
      assert.equal(body.result.cacheScope, 'private');
    }
    const ready = (await (await fetch(gateway.url('/readyz'))).json()) as {
      checks: Record<string, string>;
    };
    assert.match(ready.checks['protocol:modern'] ?? '', /^modern/);
  });
});
