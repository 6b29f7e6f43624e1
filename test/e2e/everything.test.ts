import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { type ChildServer, startEverythingHttp } from '../helpers/child-servers.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  EVERYTHING_ENTRY,
  gatewayDocument,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { type RecordingProxy, startRecordingProxy } from '../helpers/recording-proxy.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * Acceptance: the official MCP SDK client (Client + StreamableHTTPClientTransport, bearer
 * token) through the gateway to @modelcontextprotocol/server-everything, over stdio and over
 * its Streamable HTTP transport. Tokens come from the test-double verifier (the real issuer is
 * wired in with token verification); what is tested here is the gateway's policy and proxying.
 */

const RECORDER = fileURLToPath(new URL('../helpers/stdio-recorder.ts', import.meta.url));

const TOOL_SCOPES = {
  echo: 'demo:read',
  'get-sum': 'demo:read',
  'trigger-long-running-operation': 'demo:read',
  'toggle-simulated-logging': 'demo:read',
  'get-env': 'demo:admin',
};

interface Variant {
  readonly name: string;
  start(): Promise<{
    upstream: Record<string, unknown>;
    toolCalls(): string[];
    stop(): Promise<void>;
  }>;
}

const variants: Variant[] = [
  {
    name: 'stdio',
    async start() {
      const record = join(tempDir(), 'received.jsonl');
      return {
        upstream: {
          name: 'everything',
          path: '/mcp',
          command: process.execPath,
          args: [RECORDER, record, process.execPath, EVERYTHING_ENTRY, 'stdio'],
          tool_scopes: TOOL_SCOPES,
        },
        toolCalls: () =>
          readFileSync(record, 'utf8')
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as { method?: string; params?: { name?: string } })
            .filter((message) => message.method === 'tools/call')
            .map((message) => message.params?.name ?? ''),
        stop: async () => {},
      };
    },
  },
  {
    name: 'streamable HTTP',
    async start() {
      const everything: ChildServer = await startEverythingHttp();
      const proxy: RecordingProxy = await startRecordingProxy(everything.url);
      return {
        upstream: { name: 'everything', path: '/mcp', url: proxy.url, tool_scopes: TOOL_SCOPES },
        toolCalls: () => proxy.toolCalls(),
        stop: async () => {
          await proxy.close();
          await everything.stop();
        },
      };
    },
  },
];

for (const variant of variants) {
  describe(`SDK client through the gateway to server-everything over ${variant.name}`, () => {
    const verifier = new TestDoubleVerifier();
    let gateway: TestGateway;
    let setup: Awaited<ReturnType<Variant['start']>>;
    let client: Client;

    before(async () => {
      setup = await variant.start();
      gateway = await startTestGateway(
        gatewayDocument({
          auth: 'oauth',
          allowedScopes: ['demo:read', 'demo:admin'],
          upstreams: [setup.upstream],
        }),
        { auth: testDoubleAuth(verifier) },
      );
      const token = verifier.issue('alice', ['demo:read']);
      client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url()), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
    });

    after(async () => {
      await client?.close();
      await gateway?.close();
      await setup?.stop();
    });

    it('lists only the tools the token may call, each with its scope in _meta', async () => {
      const { tools } = await client.listTools();
      const names = tools.map((tool) => tool.name).sort();
      assert.deepEqual(names, [
        'echo',
        'get-sum',
        'toggle-simulated-logging',
        'trigger-long-running-operation',
      ]);
      for (const tool of tools) assert.equal(tool._meta?.['portcullis/scope'], 'demo:read');
    });

    it('advertises only the capabilities the policy lets through', () => {
      const capabilities = client.getServerCapabilities() ?? {};
      assert.ok(capabilities.tools !== undefined);
      // No method_scopes in this config, and no tasks/* through the gateway at all.
      for (const refused of ['tasks', 'resources', 'prompts', 'completions']) {
        assert.equal(refused in capabilities, false, refused);
      }
    });

    it('calls a tool', async () => {
      const result = await client.callTool({ name: 'echo', arguments: { message: 'through' } });
      assert.match(JSON.stringify(result.content), /through/);
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
      assert.match(JSON.stringify(sum.content), /5/);
    });

    it('streams progress notifications on the request SSE stream', async () => {
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
        undefined,
        { onprogress: (update) => progress.push(update.progress) },
      );
      assert.match(JSON.stringify(result.content), /completed/i);
      assert.ok(progress.length >= 3, `progress received: ${progress.join(',')}`);
    });

    it('delivers server-initiated messages (simulated logging) over SSE', async () => {
      const received = new Promise<string>((resolve) => {
        client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
          resolve(String(notification.params.data));
        });
      });
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      assert.match(await received, /message/i);
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    });

    it('answers 403 insufficient_scope for a tool outside the token, and the upstream sees nothing', async () => {
      await assert.rejects(
        client.callTool({ name: 'get-env', arguments: {} }),
        (error: Error & { code?: number }) =>
          error.code === 403 && /insufficient_scope/.test(error.message),
      );
      assert.deepEqual(
        setup.toolCalls().filter((name) => name === 'get-env'),
        [],
      );
      assert.ok(setup.toolCalls().includes('echo'), 'positive control: allowed calls are recorded');
    });
  });
}
