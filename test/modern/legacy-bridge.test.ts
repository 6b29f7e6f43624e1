import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/lib/log.ts';
import { classifyInbound, type ModernRequest } from '../../src/mcp/modern/inbound.ts';
import { RequestStateSealer } from '../../src/mcp/modern/request-state.ts';
import type { Principal } from '../../src/proxy/auth-stage.ts';
import { type BridgeCall, ModernToLegacyBridge } from '../../src/proxy/modern/legacy-bridge.ts';
import { buildRouteTable } from '../../src/proxy/routes.ts';
import { StdioConnector } from '../../src/proxy/upstreams/stdio-session.ts';
import { asResponse } from '../helpers/answers.ts';
import { tempDir } from '../helpers/cli.ts';
import { EVERYTHING_ENTRY, gatewayDocument, loadTestConfig } from '../helpers/gateway.ts';

const RECORDER = fileURLToPath(new URL('../helpers/stdio-recorder.ts', import.meta.url));

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  'io.modelcontextprotocol/clientInfo': { name: 'modern-test', version: '1' },
};

let nextId = 1;
function modern(method: string, params: Record<string, unknown>): ModernRequest {
  const body = {
    jsonrpc: '2.0',
    id: nextId++,
    method,
    params: { ...params, _meta: { ...META, ...(params._meta as object | undefined) } },
  };
  const headers: Record<string, string> = {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
  };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const outcome = classifyInbound({ httpMethod: 'POST', headers, body });
  assert.equal(outcome.kind, 'modern', JSON.stringify(outcome));
  return (outcome as { request: ModernRequest }).request;
}

function resultOf(message: Record<string, unknown> | undefined): Record<string, unknown> {
  assert.ok(message !== undefined && typeof message.result === 'object');
  return message.result as Record<string, unknown>;
}

function principal(subject: string): Principal {
  return { subject, clientId: 'c', scopes: new Set(['tools']), tokenIdHash: undefined };
}

async function messages(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    return [JSON.parse(text) as Record<string, unknown>];
  }
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
}

describe('modern client → legacy stdio upstream (server-everything)', () => {
  const dir = tempDir();
  const record = join(dir, 'record.jsonl');
  let clock = new Date();
  const sealer = new RequestStateSealer({ key: randomBytes(32), ttlSeconds: 60, now: () => clock });
  let connector: StdioConnector;
  let bridge: ModernToLegacyBridge;
  /** The bridge's answer, read here with the Fetch API whatever its shape. */
  const callBridge = (call: BridgeCall) => bridge.call(call).then(asResponse);
  const recorded = () =>
    readFileSync(record, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  before(() => {
    const loaded = loadTestConfig(
      gatewayDocument({
        auth: 'none',
        upstreams: [
          {
            name: 'everything',
            path: '/mcp',
            command: process.execPath,
            args: [RECORDER, record, process.execPath, EVERYTHING_ENTRY, 'stdio'],
            tool_scopes: { '*': 'files:read' },
          },
        ],
      }),
    );
    const route = buildRouteTable(loaded).routes[0];
    assert.ok(route);
    const logger = createLogger({ level: 'silent' });
    connector = new StdioConnector(route, logger);
    bridge = new ModernToLegacyBridge({
      upstream: 'everything',
      open: (id, who) => connector.open(id, who),
      sealer,
      logger,
      maxSessions: 4,
      idleTimeoutMs: 60_000,
      parkTimeoutMs: 60_000,
    });
  });
  after(async () => {
    await bridge.close();
  });

  it('holds one 2025 session per subject and answers a tools/call as a 2026-07-28 result', async () => {
    const call = (subject: string) =>
      callBridge({
        request: modern('tools/call', { name: 'echo', arguments: { message: `hi ${subject}` } }),
        principal: principal(subject),
        requestId: 'r',
        signal: new AbortController().signal,
      });
    const [first] = await messages(await call('alice'));
    assert.deepEqual(resultOf(first).content, [{ type: 'text', text: 'Echo: hi alice' }]);
    assert.equal(resultOf(first).resultType, 'complete');
    await messages(await call('alice'));
    assert.equal(connector.childProcesses, 1);
    await messages(await call('bob'));
    assert.equal(connector.childProcesses, 2);
    assert.equal(recorded().filter((m) => m.method === 'initialize').length, 2);
  });

  it('relays progress for the request token on the request stream', async () => {
    const response = await callBridge({
      request: modern('tools/call', {
        name: 'trigger-long-running-operation',
        arguments: { duration: 0.3, steps: 3 },
        _meta: { progressToken: 'tok-1' },
      }),
      principal: principal('alice'),
      requestId: 'r',
      signal: new AbortController().signal,
    });
    const all = await messages(response);
    const progress = all.filter((m) => m.method === 'notifications/progress');
    assert.equal(progress.length, 3);
    assert.ok(
      progress.every((m) => (m.params as { progressToken: string }).progressToken === 'tok-1'),
    );
    assert.equal(resultOf(all.at(-1)).resultType, 'complete');
  });

  it('turns an elicitation into an InputRequiredResult; bad states reach nothing; the retry completes', async () => {
    const params = { name: 'trigger-elicitation-request', arguments: {} };
    const [first] = await messages(
      await callBridge({
        request: modern('tools/call', params),
        principal: principal('alice'),
        requestId: 'r',
        signal: new AbortController().signal,
      }),
    );
    const result = resultOf(first) as {
      resultType: string;
      inputRequests: Record<string, { method: string; params: { mode: string } }>;
      requestState: string;
    };
    assert.equal(result.resultType, 'input_required');
    const [key, input] = Object.entries(result.inputRequests)[0] ?? [];
    assert.ok(key !== undefined && input !== undefined);
    assert.equal(input.method, 'elicitation/create');
    assert.equal(input.params.mode, 'form');
    const answer = { action: 'accept', content: { name: 'Ada', check: true } };
    const retry = (extra: Record<string, unknown>, subject = 'alice', base = params) =>
      callBridge({
        request: modern('tools/call', {
          ...base,
          inputResponses: { [key]: answer },
          requestState: result.requestState,
          ...extra,
        }),
        principal: principal(subject),
        requestId: 'r',
        signal: new AbortController().signal,
      });
    const tampered = `${result.requestState.slice(0, -6)}AAAAAA`;
    const cases: [string, () => Promise<Response>, string][] = [
      ['tampered', () => retry({ requestState: tampered }), 'tampered'],
      ['not a string', () => retry({ requestState: 7 }), 'malformed'],
      ['replayed by another subject', () => retry({}, 'mallory'), 'foreign-subject'],
      [
        'on another tool',
        () => retry({}, 'alice', { name: 'echo', arguments: {} }),
        'other-request',
      ],
      [
        'expired',
        async () => {
          clock = new Date(Date.now() + 61_000);
          try {
            return await retry({});
          } finally {
            clock = new Date();
          }
        },
        'expired',
      ],
    ];
    const seen = recorded().length;
    const childrenBefore = connector.childProcesses;
    for (const [name, attempt, reason] of cases) {
      const response = await attempt();
      assert.equal(response.status, 400, name);
      const body = (await response.json()) as { error: { code: number; data: { reason: string } } };
      assert.equal(body.error.code, -32602, name);
      assert.equal(body.error.data.reason, reason, name);
    }
    assert.equal(recorded().length, seen, 'nothing reached the upstream');
    assert.equal(connector.childProcesses, childrenBefore, 'no session opened for mallory');
    // Positive control: the genuine retry completes the parked call.
    const final = await messages(await retry({}));
    const text = JSON.stringify(final.at(-1)?.result);
    assert.match(text, /Ada/);
    assert.equal(resultOf(final.at(-1)).resultType, 'complete');
    // A state is single-use.
    const again = await retry({});
    assert.equal(again.status, 400);
    await again.body?.cancel();
  });

  it('answers 400 / -32021 when the 2025 server asks for a capability the client did not declare', async () => {
    const request = modern('tools/call', {
      name: 'trigger-elicitation-request',
      arguments: {},
      _meta: { 'io.modelcontextprotocol/clientCapabilities': {} },
    });
    const response = await callBridge({
      request,
      principal: principal('alice'),
      requestId: 'r',
      signal: new AbortController().signal,
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as {
      error: { code: number; data: { requiredCapabilities: Record<string, unknown> } };
    };
    assert.equal(body.error.code, -32021);
    assert.deepEqual(body.error.data.requiredCapabilities, { elicitation: {} });
  });

  it('cancels the 2025 request when the client closes its stream', async () => {
    const cancelledBefore = recorded().filter((m) => m.method === 'notifications/cancelled').length;
    const client = new AbortController();
    const response = await callBridge({
      request: modern('tools/call', {
        name: 'trigger-long-running-operation',
        arguments: { duration: 30, steps: 30 },
        _meta: { progressToken: 'tok-cancel' },
      }),
      principal: principal('alice'),
      requestId: 'r',
      signal: client.signal,
    });
    const reader = response.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    const cancellations = () => recorded().filter((m) => m.method === 'notifications/cancelled');
    while (cancellations().length === cancelledBefore) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(JSON.stringify(cancellations().at(-1)?.params), /"requestId":"portcullis-/);
  });
});
