/**
 * The transport scenarios of the MCP conformance suite, through `portcullis connect`: an official
 * SDK client runs on stdio against `portcullis connect SERVER_URL`, which speaks to the
 * conformance server in the era `--protocol auto` finds. Which local client depends on the
 * scenario, so both bridge directions are exercised:
 * - a 2025 client (`@modelcontextprotocol/sdk` 1.x, it sends `initialize`) for tools_call,
 *   request-metadata, http-standard-headers and the JSON Schema scenarios;
 * - a 2026-07-28 client (`@modelcontextprotocol/client` 2.x) for http-custom-headers,
 *   http-invalid-tool-headers and sep-2322-client-request-state (answering `input_required`
 *   by hand, with an unrelated call between the rounds).
 *   node test/conformance/transport-under-test.ts SERVER_URL
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as ModernClient } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdio } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { CLI_ENTRY } from '../helpers/cli.ts';

const serverUrl = process.argv.at(-1);
if (serverUrl === undefined || !serverUrl.startsWith('http')) {
  process.stderr.write('usage: transport-under-test.ts SERVER_URL\n');
  process.exit(2);
}
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as {
  toolCalls?: { name: string; arguments: Record<string, unknown> }[];
};
const cli = CLI_ENTRY;
const store = mkdtempSync(join(tmpdir(), 'portcullis-transport-'));
const connectArgs = [cli, 'connect', serverUrl, '--open', 'fetch', '--token-store', store];
const env = { ...(process.env as Record<string, string>) };

/** The verbs both SDK generations share. */
interface Verbs {
  listTools(): Promise<{ tools: { name: string; inputSchema: unknown }[] }>;
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<unknown>;
  listResources(): Promise<{ resources: { uri: string }[] }>;
  readResource(params: { uri: string }): Promise<unknown>;
  listPrompts(): Promise<{ prompts: { name: string }[] }>;
  getPrompt(params: { name: string }): Promise<unknown>;
  close(): Promise<void>;
  capabilities(): { tools?: object; resources?: object; prompts?: object };
}

/** The 2025 SDK client, on stdio to the bridge (it opens with `initialize`). */
async function legacyClient(
  capabilities: Record<string, object> = { elicitation: {}, sampling: {}, roots: {} },
  elicit?: () => Promise<{ action: 'accept'; content: Record<string, unknown> }>,
): Promise<Verbs> {
  const client = new LegacyClient(
    { name: 'sdk-v1-over-stdio', version: '1.0.0' },
    { capabilities },
  );
  if (elicit) client.setRequestHandler(ElicitRequestSchema, elicit);
  await client.connect(
    new LegacyStdio({ command: process.execPath, args: connectArgs, env, stderr: 'inherit' }),
  );
  return Object.assign(client, {
    capabilities: () => client.getServerCapabilities() ?? {},
  }) as unknown as Verbs;
}

/**
 * The SDK's own stdio transport would probe the era in a second, throw-away child process; a
 * subclass probes in place, so one bridge process serves the whole run.
 */
class InPlaceStdio extends ModernStdio {}

/** The 2026-07-28 SDK client, on stdio to the bridge (no handshake, `_meta` on every request). */
async function modernClient(autoFulfill: boolean): Promise<ModernClient> {
  const client = new ModernClient(
    { name: 'sdk-v2-over-stdio', version: '2.0.0' },
    {
      capabilities: { elicitation: {} },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      inputRequired: { autoFulfill },
    },
  );
  await client.connect(
    new InPlaceStdio({ command: process.execPath, args: connectArgs, env, stderr: 'inherit' }),
  );
  if (client.getProtocolEra() !== 'modern') throw new Error('the bridge did not speak 2026-07-28');
  return client;
}

async function everything(client: Verbs): Promise<void> {
  const { tools } = await client.listTools();
  for (const tool of tools) await client.callTool({ name: tool.name, arguments: {} });
  const { resources } = await client.listResources();
  for (const resource of resources) await client.readResource({ uri: resource.uri });
  const { prompts } = await client.listPrompts();
  for (const prompt of prompts) await client.getPrompt({ name: prompt.name });
}

type Answer = { action: 'accept'; content: Record<string, unknown> };
const confirmAll = (requests: Record<string, { method: string }>) =>
  Object.fromEntries(
    Object.entries(requests)
      .filter(([, request]) => request.method === 'elicitation/create')
      .map(([key]) => [key, { action: 'accept', content: { confirmed: true } } satisfies Answer]),
  );

/** MCP 2026-07-28 basic/patterns/mrtr, by hand: answer, interleave a call, retry. */
async function requestState(client: ModernClient): Promise<void> {
  await client.listTools();
  const manual = { allowInputRequired: true } as const;
  const first = (await client.callTool(
    { name: 'test_mrtr_echo_state', arguments: {} },
    manual,
  )) as {
    resultType?: string;
    inputRequests?: Record<string, { method: string }>;
    requestState?: string;
  };
  if (first.resultType !== 'input_required' || !first.inputRequests)
    throw new Error('no input_required');
  await client.callTool({ name: 'test_mrtr_unrelated', arguments: {} });
  await client.callTool(
    {
      name: 'test_mrtr_echo_state',
      arguments: {},
      inputResponses: confirmAll(first.inputRequests),
      ...(first.requestState === undefined ? {} : { requestState: first.requestState }),
    } as never,
    manual,
  );
  const second = (await client.callTool({ name: 'test_mrtr_no_state', arguments: {} }, manual)) as {
    inputRequests?: Record<string, { method: string }>;
  };
  await client.callTool(
    {
      name: 'test_mrtr_no_state',
      arguments: {},
      inputResponses: confirmAll(second.inputRequests ?? {}),
    } as never,
    manual,
  );
  await client.callTool({ name: 'test_mrtr_no_result_type', arguments: {} }, manual);
}

let code = 0;
let close: (() => Promise<void>) | undefined;
try {
  switch (scenario) {
    case 'tools_call': {
      const client = await legacyClient();
      close = () => client.close();
      const { tools } = await client.listTools();
      const tool = tools[0];
      if (tool) await client.callTool({ name: tool.name, arguments: { a: 2, b: 3 } });
      break;
    }
    case 'request-metadata':
    case 'json-schema-ref-no-deref': {
      const client = await legacyClient();
      close = () => client.close();
      // The request-metadata server offers no capability: nothing to list there.
      if (client.capabilities().tools) await client.listTools();
      break;
    }
    case 'json-schema-2020-12-preservation': {
      const client = await legacyClient();
      close = () => client.close();
      const { tools } = await client.listTools();
      const focal = tools.find((tool) => tool.name === 'json_schema_2020_12_tool');
      if (!focal) throw new Error('no json_schema_2020_12_tool');
      await client.callTool({
        name: 'json_schema_echo',
        arguments: { schema: focal.inputSchema as Record<string, unknown> },
      });
      break;
    }
    case 'initialize':
    case 'sse-retry': {
      const client = await legacyClient();
      close = () => client.close();
      const { tools } = await client.listTools();
      for (const tool of tools) await client.callTool({ name: tool.name, arguments: {} });
      break;
    }
    case 'elicitation-sep1034-client-defaults': {
      // The local client applies the schema's defaults to the fields it leaves out (SEP-1034).
      const client = await legacyClient(
        { elicitation: { form: { applyDefaults: true } } },
        async () => ({
          action: 'accept',
          content: {},
        }),
      );
      close = () => client.close();
      const { tools } = await client.listTools();
      for (const tool of tools) await client.callTool({ name: tool.name, arguments: {} });
      break;
    }
    case 'http-standard-headers': {
      const client = await legacyClient();
      close = () => client.close();
      await everything(client);
      break;
    }
    case 'http-custom-headers': {
      const client = await modernClient(true);
      close = () => client.close();
      await client.listTools();
      for (const call of context.toolCalls ?? []) await client.callTool(call);
      break;
    }
    case 'http-invalid-tool-headers': {
      const client = await modernClient(true);
      close = () => client.close();
      const { tools } = await client.listTools();
      for (const tool of tools) await client.callTool({ name: tool.name, arguments: {} });
      break;
    }
    case 'sep-2322-client-request-state': {
      const client = await modernClient(false);
      close = () => client.close();
      await requestState(client);
      break;
    }
    default:
      throw new Error(`no transport behaviour for scenario ${scenario}`);
  }
} catch (error) {
  process.stderr.write(`transport client: ${(error as Error).stack ?? error}\n`);
  code = 1;
} finally {
  await close?.().catch(() => undefined);
  rmSync(store, { recursive: true, force: true });
}
process.exitCode = code;
