/**
 * `portcullis connect` under the MCP conformance suite: the official SDK client, over stdio, to
 * `portcullis connect SERVER_URL --open fetch …`, which relays to the conformance test server and
 * does the authorization dance. The SDK client lists the tools and calls test-tool.
 *   node test/conformance/bridge-under-test.ts SERVER_URL
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI_ENTRY } from '../helpers/cli.ts';
import { scenarioFlags } from './scenario-flags.ts';

const serverUrl = process.argv.at(-1);
if (serverUrl === undefined || !serverUrl.startsWith('http')) {
  process.stderr.write('usage: bridge-under-test.ts SERVER_URL\n');
  process.exit(2);
}
const cli = CLI_ENTRY;
const store = mkdtempSync(join(tmpdir(), 'portcullis-bridge-'));
const { flags, env } = scenarioFlags(
  process.env.MCP_CONFORMANCE_SCENARIO ?? '',
  process.env.MCP_CONFORMANCE_CONTEXT,
  store,
);
const transport = new StdioClientTransport({
  command: process.execPath,
  args: [cli, 'connect', serverUrl, ...flags],
  env: { ...(process.env as Record<string, string>), ...env },
  stderr: 'inherit',
});
const client = new Client({ name: 'sdk-client-over-stdio', version: '1.0.0' });
let code = 0;
try {
  await client.connect(transport);
  const tools = await client.listTools();
  if (!tools.tools.some((tool) => tool.name === 'test-tool')) throw new Error('no test-tool');
  const result = await client.callTool({ name: 'test-tool', arguments: {} });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (result.isError) code = 1;
} catch (error) {
  process.stderr.write(`bridge client: ${(error as Error).message}\n`);
  code = 1;
} finally {
  await client.close().catch(() => undefined);
  rmSync(store, { recursive: true, force: true });
}
process.exitCode = code;
