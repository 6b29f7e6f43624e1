import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { CLI_ENTRY, tempDir } from '../helpers/cli.ts';
import { type OAuthFixture, startOAuthFixture } from '../helpers/oauth-fixture.ts';

const text = (result: object) =>
  (
    ((result as { content?: unknown }).content as { type: string; text?: string }[] | undefined) ??
    []
  )
    .map((part) => part.text ?? '')
    .join('');

describe('portcullis connect: the official SDK client over stdio to a protected remote server', () => {
  let fixture: OAuthFixture;
  let client: Client;
  let stderr = '';
  const logs: unknown[] = [];

  before(async () => {
    // Stateful sessions (to drop them), and 5 s tokens: every request is due for a refresh.
    fixture = await startOAuthFixture({ stateful: true, accessTokenTtl: 5, refreshedTokenTtl: 5 });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI_ENTRY, 'connect', fixture.mcpUrl, '--open', 'fetch', '--token-store', tempDir()],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    client = new Client(
      { name: 'desktop-app', version: '1.0.0' },
      { capabilities: { sampling: {} } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: 'assistant',
      content: { type: 'text', text: 'sampled by the local client' },
      model: 'test-model',
    }));
    client.setNotificationHandler(LoggingMessageNotificationSchema, async (notification) => {
      logs.push(notification.params.data);
    });
    await client.connect(transport);
  });
  after(async () => {
    await client.close();
    await fixture.stop();
    if (process.env.SHOW_BRIDGE_STDERR) console.log(stderr);
  });

  it('initializes through the authorization dance and lists the remote tools', async () => {
    const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
    assert.deepEqual(tools, ['ask', 'echo', 'fail', 'notify']);
    assert.equal(fixture.counts.authorize, 1);
  });

  it('relays a call and its result', async () => {
    const result = await client.callTool({
      name: 'echo',
      arguments: { text: 'through the bridge' },
    });
    assert.equal(text(result), 'echo: through the bridge');
  });

  it('relays a server-to-client request (sampling) and the client answer', async () => {
    const result = await client.callTool({ name: 'ask', arguments: {} });
    assert.equal(text(result), 'client said: sampled by the local client');
  });

  it('relays server notifications', async () => {
    await client.callTool({ name: 'notify', arguments: {} });
    assert.ok(logs.includes('hello from the server'));
  });

  it('survives token refresh: tokens were refreshed, never re-authorized', () => {
    assert.ok(
      (fixture.counts.grants.refresh_token ?? 0) >= 2,
      `refreshes: ${fixture.counts.grants.refresh_token}`,
    );
    assert.equal(fixture.counts.authorize, 1);
  });

  it('reconnects when the server loses the session (404) and replays the handshake', async () => {
    fixture.dropSessions();
    const result = await client.callTool({ name: 'echo', arguments: { text: 'after reconnect' } });
    assert.equal(text(result), 'echo: after reconnect');
    assert.match(stderr, /Reconnected to the remote MCP server/);
    assert.equal(fixture.counts.authorize, 1);
  });
});
