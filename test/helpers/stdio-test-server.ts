/**
 * The test MCP server over stdio, for stdio-upstream tests. With RECORD_FILE set, every message
 * it receives is appended there (one JSON line each), so a test can prove what reached it.
 */
import { appendFileSync } from 'node:fs';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createTestMcpServer } from './mcp-test-server.ts';

const record = process.env.RECORD_FILE;
const transport = new StdioServerTransport();
const server = createTestMcpServer();
await server.connect(transport);
const deliver = transport.onmessage;
transport.onmessage = (message) => {
  if (record !== undefined) appendFileSync(record, `${JSON.stringify(message)}\n`);
  deliver?.(message);
};
process.stderr.write(`stdio test server ${process.pid} ready\n`);
