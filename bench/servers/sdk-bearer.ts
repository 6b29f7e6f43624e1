/**
 * The incumbent approach: an MCP TypeScript SDK server with the SDK's `requireBearerAuth`
 * middleware and jose verification, set up the way the SDK documentation shows it (Express,
 * stateless Streamable HTTP: a new server and transport per request, JSON responses).
 * Usage: sdk-bearer.ts JWKS_JSON ISSUER AUDIENCE. Prints `READY <port>`.
 */

import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';

const [jwksJson = '{}', issuer = '', audience = ''] = process.argv.slice(2);
const keys = createLocalJWKSet(JSON.parse(jwksJson));

const app = express();
app.use(express.json());
app.use(
  '/mcp',
  requireBearerAuth({
    verifier: {
      async verifyAccessToken(token) {
        const { payload } = await jwtVerify(token, keys, { issuer, audience });
        return {
          token,
          clientId: String(payload.client_id ?? ''),
          scopes: String(payload.scope ?? '')
            .split(' ')
            .filter(Boolean),
          ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
        };
      },
    },
    requiredScopes: ['bench:echo'],
  }),
);
app.post('/mcp', async (request, response) => {
  const server = new McpServer({ name: 'sdk-bench', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  response.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(request, response, request.body);
});
const listener = app.listen(0, '127.0.0.1', () => {
  const address = listener.address();
  console.log(`READY ${typeof address === 'object' && address ? address.port : 0}`);
});
listener.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => listener.close(() => process.exit(0)));
