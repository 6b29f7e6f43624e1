import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type ChildServer, startEverythingHttp } from '../helpers/child-servers.ts';
import { runCli } from '../helpers/cli.ts';
import { type ModernOnlyServer, startModernOnlyServer } from './helpers/modern-only-server.ts';

/**
 * The client's MCP 2026-07-28 rules through `portcullis call`, against real servers: era
 * detection and --protocol, a 401 on the discovery probe (authorize, never "legacy"),
 * input_required answered by flags or refused, and tools with invalid `x-mcp-header`
 * annotations dropped (basic/transports/streamable-http, "Custom headers").
 */

const HEADER = ['--header', 'X-Test: yes'];

describe('call: protocol era (--protocol auto|2026-07-28|2025-11-25)', () => {
  let modern: ModernOnlyServer;
  let everything: ChildServer;
  before(async () => {
    modern = await startModernOnlyServer();
    everything = await startEverythingHttp();
  });
  after(async () => {
    await modern?.close();
    await everything?.stop();
  });

  const cases = [
    { name: 'auto, 2026-only server', url: () => modern.url, protocol: 'auto', ok: true },
    { name: 'auto, 2025 server', url: () => everything.url, protocol: 'auto', ok: true },
    {
      name: 'pinned 2026-07-28, 2026 server',
      url: () => modern.url,
      protocol: '2026-07-28',
      ok: true,
    },
    {
      name: 'pinned 2025-11-25, 2025 server',
      url: () => everything.url,
      protocol: '2025-11-25',
      ok: true,
    },
    {
      name: 'pinned 2026-07-28, 2025 server: no fallback',
      url: () => everything.url,
      protocol: '2026-07-28',
      ok: false,
    },
    {
      name: 'pinned 2025-11-25, 2026-only server: refused initialize',
      url: () => modern.url,
      protocol: '2025-11-25',
      ok: false,
    },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: ${c.ok ? 'exit 0' : 'exit 1, ClientToolFailed'}`, async () => {
      const url = c.url();
      const [tool, args] =
        url === modern.url ? ['echo', '{"text":"x"}'] : ['echo', '{"message":"x"}'];
      const result = await runCli([
        'call',
        url,
        tool,
        '--args',
        args,
        '--protocol',
        c.protocol,
        ...HEADER,
      ]);
      if (c.ok) {
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /[Ee]cho: x/);
      } else {
        assert.equal(result.code, 1, result.stdout);
        assert.match(result.stderr, /ClientToolFailed/);
        assert.doesNotMatch(result.stdout, /[Ee]cho: x/);
      }
    });
  }

  it('refuses an unknown --protocol (exit 2)', async () => {
    const result = await runCli([
      'call',
      modern.url,
      'echo',
      '--protocol',
      '2024-01-01',
      ...HEADER,
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--protocol must be auto, 2026-07-28, 2025-11-25/);
  });
});

describe('call: a 401 on the discovery probe means "authorize", never "2025 server"', () => {
  let protectedServer: ModernOnlyServer;
  before(async () => {
    protectedServer = await startModernOnlyServer({ bearer: 'right-token' });
  });
  after(async () => protectedServer?.close());

  it('wrong credential: exit 1, ClientServerRefused, and no initialize was ever tried', async () => {
    const result = await runCli([
      'call',
      protectedServer.url,
      'echo',
      '--args',
      '{"text":"x"}',
      '--header',
      'Authorization: Bearer wrong-token',
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ClientServerRefused/);
    assert.ok(protectedServer.requests.length > 0, 'the probe reached the server');
    assert.ok(
      protectedServer.requests.every((r) => r.method === 'server/discover'),
      JSON.stringify(protectedServer.requests),
    );
  });

  it('positive control: the right credential, the 2026-07-28 era, no initialize', async () => {
    const result = await runCli([
      'call',
      protectedServer.url,
      'echo',
      '--args',
      '{"text":"x"}',
      '--header',
      'Authorization: Bearer right-token',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!protectedServer.requests.some((r) => r.method === 'initialize'));
  });
});

/**
 * A 2025 policy layer in front of server-everything that refuses `server/discover` with 403,
 * with or without an authorization challenge, and records what reached the server.
 */
async function startPolicyProxy(target: string, challenge: boolean) {
  const targetUrl = new URL(target);
  const forwarded: string[] = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (body.includes('"server/discover"')) {
      res.writeHead(403, {
        'content-type': 'application/json',
        ...(challenge
          ? { 'www-authenticate': 'Bearer error="insufficient_scope", scope="admin"' }
          : {}),
      });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32600, message: 'method not allowed' },
        }),
      );
      return;
    }
    const method = body
      ? ((JSON.parse(body) as { method?: string }).method ?? '(response)')
      : (req.method ?? '');
    forwarded.push(method);
    const upstream = http.request(
      targetUrl,
      { method: req.method, headers: { ...req.headers, host: targetUrl.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${targetUrl.pathname}`,
    forwarded,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('call: a 403 on server/discover', () => {
  let everything: ChildServer;
  before(async () => {
    everything = await startEverythingHttp();
  });
  after(async () => everything?.stop());

  it('with an authorization challenge it is an authorization answer: exit 1, no initialize tried', async () => {
    const proxy = await startPolicyProxy(everything.url, true);
    try {
      const result = await runCli([
        'call',
        proxy.url,
        'echo',
        '--args',
        '{"message":"x"}',
        ...HEADER,
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /ClientServerRefused/);
      assert.deepEqual(proxy.forwarded, [], 'nothing reached the server, initialize included');
    } finally {
      await proxy.close();
    }
  });

  it('pinned to 2026-07-28, a policy refusal without challenge is final too (exit 1)', async () => {
    const proxy = await startPolicyProxy(everything.url, false);
    try {
      const result = await runCli([
        'call',
        proxy.url,
        'echo',
        '--args',
        '{"message":"x"}',
        '--protocol',
        '2026-07-28',
        ...HEADER,
      ]);
      assert.equal(result.code, 1);
      assert.ok(!proxy.forwarded.includes('initialize'));
    } finally {
      await proxy.close();
    }
  });

  it('positive control: without a challenge (a 2025 policy layer), auto falls back to initialize', async () => {
    const proxy = await startPolicyProxy(everything.url, false);
    try {
      const result = await runCli([
        'call',
        proxy.url,
        'echo',
        '--args',
        '{"message":"x"}',
        ...HEADER,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Echo: x/);
      assert.match(
        result.stderr,
        /refused server\/discover with 403 and no authorization challenge/,
      );
      assert.equal(proxy.forwarded[0], 'initialize');
    } finally {
      await proxy.close();
    }
  });
});

describe('call: input_required (MCP 2026-07-28 multi-round-trip requests)', () => {
  let modern: ModernOnlyServer;
  let everything: ChildServer;
  before(async () => {
    modern = await startModernOnlyServer();
    everything = await startEverythingHttp();
  });
  after(async () => {
    await modern?.close();
    await everything?.stop();
  });

  it('--elicit answers the question and the call is retried to completion', async () => {
    const result = await runCli([
      'call',
      modern.url,
      'ask',
      '--elicit',
      '{"colour":"teal"}',
      ...HEADER,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /colour: teal/);
    assert.match(result.stderr, /Favourite colour\? \(answered: accept\)/);
  });

  it('the same answer for a 2025 server asking by request (server-everything)', async () => {
    const result = await runCli([
      'call',
      everything.url,
      'trigger-elicitation-request',
      '--elicit',
      '{"name":"Ada"}',
      ...HEADER,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Ada/);
  });

  it('without --elicit, elicitation is not offered and the question is refused (exit 1)', async () => {
    const result = await runCli(['call', modern.url, 'ask', ...HEADER]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /ClientToolFailed: the server asked for input \(elicitation\/create\)/,
    );
    assert.match(result.stderr, /fix: pass --elicit/);
    assert.doesNotMatch(result.stdout, /colour:/);
  });

  it('--elicit decline is sent as such', async () => {
    const result = await runCli(['call', modern.url, 'ask', '--elicit', 'decline', ...HEADER]);
    assert.match(result.stderr, /answered: decline/);
    assert.doesNotMatch(result.stdout, /colour: /);
  });

  it('refuses a malformed --elicit or --root (exit 2)', async () => {
    for (const args of [
      ['--elicit', '[1]'],
      ['--elicit', 'yes'],
      ['--root', 'https://x.example/'],
    ]) {
      const result = await runCli(['call', modern.url, 'ask', ...args, ...HEADER]);
      assert.equal(result.code, 2, args.join(' '));
    }
  });
});

/**
 * A 2026-07-28 server written out by hand, so that it can list tools whose `x-mcp-header`
 * annotations break the rules (an SDK server would not let us). It records what it is sent.
 */
async function startHeaderServer(tools: object[]) {
  const seen: { method: string; name?: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const message = JSON.parse(body || '{}') as {
      id?: number;
      method?: string;
      params?: { name?: string };
    };
    seen.push({
      method: message.method ?? '',
      ...(message.params?.name ? { name: message.params.name } : {}),
      headers: req.headers,
    });
    const reply = (result: object) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: message.id,
          result: { resultType: 'complete', ...result },
        }),
      );
    };
    if (message.id === undefined) {
      res.writeHead(202);
      res.end();
    } else if (message.method === 'server/discover') {
      reply({
        supportedVersions: ['2026-07-28'],
        capabilities: { tools: {} },
        serverInfo: { name: 'headers', version: '1' },
        ttlMs: 0,
        cacheScope: 'private',
      });
    } else if (message.method === 'tools/list') {
      reply({ tools, ttlMs: 0, cacheScope: 'private' });
    } else if (message.method === 'tools/call') {
      reply({ content: [{ type: 'text', text: `called ${message.params?.name}` }] });
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: message.id,
          error: { code: -32601, message: 'not found' },
        }),
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const tool = (name: string, properties: Record<string, object>) => ({
  name,
  inputSchema: { type: 'object', properties },
});

describe('call: tools with invalid x-mcp-header annotations are dropped (MUST), valid ones mirrored', () => {
  const invalid: { name: string; properties: Record<string, object> }[] = [
    { name: 'empty_header', properties: { a: { type: 'string', 'x-mcp-header': '' } } },
    { name: 'object_param', properties: { a: { type: 'object', 'x-mcp-header': 'Thing' } } },
    { name: 'array_param', properties: { a: { type: 'array', 'x-mcp-header': 'List' } } },
    {
      name: 'duplicate_case',
      properties: {
        a: { type: 'string', 'x-mcp-header': 'Region' },
        b: { type: 'string', 'x-mcp-header': 'region' },
      },
    },
    { name: 'space_in_name', properties: { a: { type: 'string', 'x-mcp-header': 'My Region' } } },
    { name: 'colon_in_name', properties: { a: { type: 'string', 'x-mcp-header': 'Re:gion' } } },
    { name: 'non_ascii_name', properties: { a: { type: 'string', 'x-mcp-header': 'Régión' } } },
  ];
  const valid = tool('valid_tool', {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    note: { type: 'string', 'x-mcp-header': 'Note' },
  });
  let server: Awaited<ReturnType<typeof startHeaderServer>>;
  before(async () => {
    server = await startHeaderServer([...invalid.map((t) => tool(t.name, t.properties)), valid]);
  });
  after(async () => server?.close());

  for (const t of invalid) {
    it(`${t.name}: not callable (exit 1, named as missing), the server never sees the call`, async () => {
      const result = await runCli(['call', server.url, t.name, '--args', '{"a":"x"}', ...HEADER]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`no tool "${t.name}"`));
      assert.match(result.stderr, /valid_tool/);
      assert.ok(!server.seen.some((s) => s.method === 'tools/call' && s.name === t.name));
    });
  }

  it('positive control: valid_tool is called with Mcp-Name and Mcp-Param-* mirrored (base64 where needed)', async () => {
    const result = await runCli([
      'call',
      server.url,
      'valid_tool',
      '--args',
      '{"region":"us-west1","note":" padded "}',
      ...HEADER,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const call = server.seen.find((s) => s.method === 'tools/call' && s.name === 'valid_tool');
    assert.ok(call);
    assert.equal(call.headers['mcp-method'], 'tools/call');
    assert.equal(call.headers['mcp-name'], 'valid_tool');
    assert.equal(call.headers['mcp-param-region'], 'us-west1');
    assert.equal(
      call.headers['mcp-param-note'],
      `=?base64?${Buffer.from(' padded ').toString('base64')}?=`,
    );
    assert.equal(call.headers['mcp-protocol-version'], '2026-07-28');
  });
});
