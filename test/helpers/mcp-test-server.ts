import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/**
 * A small real MCP server (the official SDK's McpServer) used as the upstream in policy tests:
 * tools that need different scopes, one that no scope maps, a slow one, a resource and a prompt.
 */
export function createTestMcpServer(): McpServer {
  const server = new McpServer({ name: 'portcullis-test-upstream', version: '1.0.0' });
  server.registerTool(
    'read_file',
    { description: 'Read a file', inputSchema: { path: z.string() } },
    async ({ path }) => ({ content: [{ type: 'text', text: `contents of ${path}` }] }),
  );
  server.registerTool(
    'write_file',
    { description: 'Write a file', inputSchema: { path: z.string(), text: z.string() } },
    async ({ path }) => ({ content: [{ type: 'text', text: `wrote ${path}` }] }),
  );
  server.registerTool('admin_tool', { description: 'Not mapped by any scope' }, async () => ({
    content: [{ type: 'text', text: 'admin done' }],
  }));
  server.registerTool('pid', { description: 'The server process id' }, async () => ({
    content: [{ type: 'text', text: String(process.pid) }],
  }));
  server.registerTool(
    'sleep',
    { description: 'Wait, reporting progress', inputSchema: { ms: z.number() } },
    async ({ ms }, extra) => {
      const token = extra._meta?.progressToken;
      if (token !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: 0, total: 1 },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { content: [{ type: 'text', text: 'slept' }] };
    },
  );
  server.registerResource(
    'readme',
    'test://readme',
    { description: 'A text resource', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, text: 'hello from the upstream' }] }),
  );
  server.registerPrompt('greet', { description: 'A greeting' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }],
  }));
  return server;
}
