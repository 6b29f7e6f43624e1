/**
 * A stand-in for the gateway, for end-to-end tests of the authorization server alone: publishes
 * protected resource metadata (RFC 9728) and serves a real MCP server (the SDK's Web transport,
 * stateless) at /mcp behind a minimal bearer check against the authorization server's own keys
 * and revocation list. The gateway's real verifier replaces this at integration.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import type { AuthorizationServer } from '../../src/authorization-server/index.ts';

export interface ProtectedEndpoint {
  handle(request: Request): Promise<Response | undefined>;
  /** Tool calls that reached the MCP server, with the subject of their token. */
  readonly calls: { tool: string; subject: string }[];
}

export function protectedEndpoint(options: {
  readonly origin: () => string;
  readonly as: () => AuthorizationServer;
  readonly now: () => number;
  readonly scopes: readonly string[];
}): ProtectedEndpoint {
  const calls: { tool: string; subject: string }[] = [];
  const resource = () => `${options.origin()}/mcp`;
  const metadataUrl = () => `${options.origin()}/.well-known/oauth-protected-resource/mcp`;

  const challenge = (error?: string) =>
    new Response(null, {
      status: 401,
      headers: {
        'www-authenticate': `Bearer resource_metadata="${metadataUrl()}"${error ? `, error="${error}"` : ''}`,
      },
    });

  async function verify(request: Request): Promise<string | Response> {
    const header = request.headers.get('authorization');
    const token = /^Bearer ([A-Za-z0-9._-]+)$/.exec(header ?? '')?.[1];
    if (token === undefined) return challenge();
    try {
      const as = options.as();
      const { payload } = await jwtVerify(token, createLocalJWKSet(await as.publicKeySet()), {
        issuer: as.issuer,
        audience: resource(),
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'],
        requiredClaims: ['exp', 'jti', 'sub'],
        currentDate: new Date(options.now()),
      });
      if (await as.isAccessTokenRevoked(String(payload.jti))) return challenge('invalid_token');
      return String(payload.sub);
    } catch {
      return challenge('invalid_token');
    }
  }

  return {
    calls,
    async handle(request) {
      const url = new URL(request.url);
      if (url.pathname === '/.well-known/oauth-protected-resource/mcp') {
        return Response.json({
          resource: resource(),
          authorization_servers: [options.as().issuer],
          scopes_supported: options.scopes,
          bearer_methods_supported: ['header'],
        });
      }
      if (url.pathname !== '/mcp') return undefined;
      const subject = await verify(request);
      if (subject instanceof Response) return subject;
      const server = new McpServer({ name: 'test-upstream', version: '1.0.0' });
      server.registerTool(
        'echo',
        { description: 'Echoes its text', inputSchema: { text: z.string() } },
        async ({ text }) => {
          calls.push({ tool: 'echo', subject });
          return { content: [{ type: 'text', text: `${subject}: ${text}` }] };
        },
      );
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      return transport.handleRequest(request);
    },
  };
}
