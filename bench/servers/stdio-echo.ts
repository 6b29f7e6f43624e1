/**
 * A minimal MCP server over stdio (newline-delimited JSON-RPC on stdin/stdout, MCP transports
 * "stdio"): answers initialize, ping, tools/list and tools/call (one `echo` tool), ignores
 * notifications, exits when stdin closes. Deliberately without the SDK, so that the start-up
 * cost measured is Node's and the transport's, not a library's import time.
 */
import { createInterface } from 'node:readline';

const TOOL = {
  name: 'echo',
  description: 'Echoes its text.',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
};

function answer(message: Record<string, unknown>): Record<string, unknown> | undefined {
  const { method } = message;
  const params = (message.params ?? {}) as Record<string, unknown>;
  switch (method) {
    case 'initialize':
      return {
        protocolVersion: typeof params.protocolVersion === 'string' ? params.protocolVersion : '',
        capabilities: { tools: {} },
        serverInfo: { name: 'bench-stdio-echo', version: '1.0.0' },
      };
    case 'ping':
      return {};
    case 'tools/list':
      return { tools: [TOOL] };
    case 'tools/call': {
      const args = (params.arguments ?? {}) as Record<string, unknown>;
      return { content: [{ type: 'text', text: String(args.text ?? '') }] };
    }
    default:
      return undefined;
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  if (message.id === undefined || message.id === null) return;
  const result = answer(message);
  const reply =
    result === undefined
      ? { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'method not found' } }
      : { jsonrpc: '2.0', id: message.id, result };
  process.stdout.write(`${JSON.stringify(reply)}\n`);
});
lines.on('close', () => process.exit(0));
