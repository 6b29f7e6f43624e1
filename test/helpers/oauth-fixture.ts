/**
 * A real authorization server and a real protected MCP server on loopback, for client tests.
 * The authorization server checks what a strict one would (registered client and redirect URI,
 * PKCE S256, `resource`, `state` echo, single-use codes, rotating refresh tokens) and counts
 * every request, so tests can assert how many refreshes happened. The MCP server is the official
 * SDK's McpServer over Streamable HTTP, behind a bearer check with per-method scopes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CreateMessageResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface FixtureOptions {
  /** access token lifetime in seconds for authorization_code and client_credentials grants. */
  readonly accessTokenTtl?: number;
  /** access token lifetime in seconds for the refresh grant. */
  readonly refreshedTokenTtl?: number;
  readonly issueRefreshTokens?: boolean;
  /** `code_challenge_methods_supported`; null leaves the member out. */
  readonly pkceMethods?: readonly string[] | null;
  /** Overrides `authorization_endpoint` in the metadata, verbatim. */
  readonly authorizationEndpoint?: string;
  /** RFC 9207: advertise and send `iss` (`correct`), send a wrong one, or neither. */
  readonly iss?: 'correct' | 'wrong' | 'missing-but-advertised' | 'none';
  /** Issuer path, e.g. `/tenant1`. */
  readonly issuerPath?: string;
  /** Metadata `issuer` value override (to test issuer checks). */
  readonly advertisedIssuer?: string;
  /** Scopes each JSON-RPC method needs (`*` for any other method), or a function of the granted ones. */
  readonly requiredScopes?:
    | Readonly<Record<string, readonly string[]>>
    | ((method: string, granted: readonly string[]) => readonly string[]);
  /** Scopes the authorization server never grants, even when asked (a downscoping server). */
  readonly withheldScopes?: readonly string[];
  /** Static API key accepted instead of a bearer token (`x-api-key`), for static-header tests. */
  readonly apiKey?: string;
  /** PRM `scopes_supported`. */
  readonly scopesSupported?: readonly string[];
  /** PRM `resource` override. */
  readonly resourceOverride?: string;
  readonly revocation?: boolean;
  /** Sessions (Mcp-Session-Id) on the MCP server, so a test can drop them. */
  readonly stateful?: boolean;
  /** Dynamic registration on/off. */
  readonly registration?: boolean;
  /** Holds each refresh response this long, so concurrent refreshers surely overlap. */
  readonly refreshDelayMs?: number;
  /** Clients known in advance: id → secret (undefined secret: public). */
  readonly preRegistered?: Readonly<Record<string, string | undefined>>;
}

export interface Counts {
  authorize: number;
  register: number;
  revoke: number;
  mcp: number;
  grants: Record<string, number>;
  /** Scopes requested at the authorization endpoint, in order. */
  authorizedScopes: (string | undefined)[];
}

interface Client {
  readonly id: string;
  readonly secret: string | undefined;
  readonly redirectUris: readonly string[];
}

interface IssuedToken {
  readonly scope: string;
  readonly resource: string;
  readonly expiresAt: number;
  readonly clientId: string;
}

export interface OAuthFixture {
  readonly mcpUrl: string;
  readonly issuer: string;
  readonly counts: Counts;
  /** Tokens issued so far (to check nothing of them reaches the disk). */
  readonly issued: string[];
  /** Forgets every MCP session, so the next request with an old session id gets 404. */
  dropSessions(): void;
  /** Revokes every token (as if an administrator did). */
  revokeAll(): void;
  /** Revokes the access tokens only; refresh tokens keep working. */
  revokeAccessTokens(): void;
  stop(): Promise<void>;
}

export async function startOAuthFixture(options: FixtureOptions = {}): Promise<OAuthFixture> {
  const counts: Counts = {
    authorize: 0,
    register: 0,
    revoke: 0,
    mcp: 0,
    grants: {},
    authorizedScopes: [],
  };
  const issued: string[] = [];
  const clients = new Map<string, Client>();
  for (const [id, secret] of Object.entries(options.preRegistered ?? {})) {
    clients.set(id, { id, secret, redirectUris: [] });
  }
  const codes = new Map<
    string,
    { clientId: string; redirectUri: string; challenge: string; resource: string; scope: string }
  >();
  const accessTokens = new Map<string, IssuedToken>();
  const refreshTokens = new Map<string, { clientId: string; scope: string; resource: string }>();

  const as = await listen();
  const mcp = await listen();
  const asOrigin = `http://127.0.0.1:${as.port}`;
  const issuer = `${asOrigin}${options.issuerPath ?? ''}`;
  const mcpUrl = `http://127.0.0.1:${mcp.port}/mcp`;
  const resource = options.resourceOverride ?? mcpUrl;
  const prmUrl = `http://127.0.0.1:${mcp.port}/.well-known/oauth-protected-resource/mcp`;

  const issue = (
    clientId: string,
    scope: string,
    res: string,
    ttl: number,
    withRefresh: boolean,
  ) => {
    const access = `at-${randomBytes(24).toString('base64url')}`;
    accessTokens.set(access, {
      scope,
      resource: res,
      expiresAt: Date.now() + ttl * 1000,
      clientId,
    });
    issued.push(access);
    const body: Record<string, unknown> = {
      access_token: access,
      token_type: 'Bearer',
      expires_in: ttl,
      ...(scope ? { scope } : {}),
    };
    if (withRefresh && options.issueRefreshTokens !== false) {
      const refresh = `rt-${randomBytes(24).toString('base64url')}`;
      refreshTokens.set(refresh, { clientId, scope, resource: res });
      issued.push(refresh);
      body.refresh_token = refresh;
    }
    return body;
  };

  const authenticateClient = (req: IncomingMessage, form: URLSearchParams): Client | undefined => {
    const header = req.headers.authorization;
    let id = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    if (header?.startsWith('Basic ')) {
      const [user, pass] = Buffer.from(header.slice(6), 'base64').toString().split(':');
      id = decodeURIComponent(user ?? '');
      secret = decodeURIComponent(pass ?? '');
    }
    const client = id === undefined ? undefined : clients.get(id);
    if (client === undefined) return undefined;
    if (client.secret !== undefined && client.secret !== secret) return undefined;
    return client;
  };

  type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => unknown;
  const prefix = options.issuerPath ?? '';

  const metadata: Route = (_req, res) => {
    const advertiseIss = options.iss !== undefined && options.iss !== 'none';
    return json(res, 200, {
      issuer: options.advertisedIssuer ?? issuer,
      authorization_endpoint: options.authorizationEndpoint ?? `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      ...(options.registration === false ? {} : { registration_endpoint: `${issuer}/register` }),
      ...(options.revocation ? { revocation_endpoint: `${issuer}/revoke` } : {}),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      ...(options.pkceMethods === null
        ? {}
        : { code_challenge_methods_supported: options.pkceMethods ?? ['S256'] }),
      ...(advertiseIss ? { authorization_response_iss_parameter_supported: true } : {}),
    });
  };

  const register: Route = async (req, res) => {
    counts.register++;
    const body = JSON.parse((await readBody(req)) || '{}') as {
      redirect_uris?: string[];
      token_endpoint_auth_method?: string;
    };
    const id = `client-${randomUUID()}`;
    const secret =
      body.token_endpoint_auth_method === 'none' ? undefined : randomBytes(16).toString('hex');
    clients.set(id, { id, secret, redirectUris: body.redirect_uris ?? [] });
    return json(res, 201, {
      ...body,
      client_id: id,
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    });
  };

  const authorize: Route = (_req, res, url) => {
    counts.authorize++;
    const q = url.searchParams;
    counts.authorizedScopes.push(q.get('scope') ?? undefined);
    const client = clients.get(q.get('client_id') ?? '');
    const redirectUri = q.get('redirect_uri') ?? '';
    const preRegistered = client !== undefined && client.redirectUris.length === 0;
    if (!client || (!preRegistered && !client.redirectUris.includes(redirectUri))) {
      return json(res, 400, {
        error: 'invalid_request',
        error_description: 'unknown client or redirect_uri',
      });
    }
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
      return json(res, 400, {
        error: 'invalid_request',
        error_description: 'PKCE S256 required',
      });
    }
    if (q.get('resource') !== resource) {
      return json(res, 400, { error: 'invalid_target', error_description: 'unknown resource' });
    }
    const code = randomBytes(16).toString('base64url');
    codes.set(code, {
      clientId: client.id,
      redirectUri,
      challenge: q.get('code_challenge') ?? '',
      resource,
      scope: (q.get('scope') ?? '')
        .split(' ')
        .filter((s) => s && !(options.withheldScopes ?? []).includes(s))
        .join(' '),
    });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    const state = q.get('state');
    if (state !== null) target.searchParams.set('state', state);
    if (options.iss === 'correct') target.searchParams.set('iss', issuer);
    if (options.iss === 'wrong') target.searchParams.set('iss', 'https://evil.example');
    res.writeHead(302, { location: target.href });
    return res.end();
  };

  /** One grant: the issued token response body, or an OAuth error code. */
  type Grant = (client: Client, form: URLSearchParams) => Promise<Record<string, unknown> | string>;
  const grants: Record<string, Grant> = {
    authorization_code: async (client, form) => {
      const code = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      const challenge = createHash('sha256')
        .update(form.get('code_verifier') ?? '')
        .digest('base64url');
      const valid =
        code !== undefined &&
        code.clientId === client.id &&
        code.redirectUri === form.get('redirect_uri') &&
        code.challenge === challenge &&
        code.resource === form.get('resource');
      if (!valid || code === undefined) return 'invalid_grant';
      return issue(client.id, code.scope, code.resource, options.accessTokenTtl ?? 3600, true);
    },
    refresh_token: async (client, form) => {
      if (options.refreshDelayMs) await new Promise((r) => setTimeout(r, options.refreshDelayMs));
      const old = refreshTokens.get(form.get('refresh_token') ?? '');
      refreshTokens.delete(form.get('refresh_token') ?? ''); // rotation: single use
      if (!old || old.clientId !== client.id || old.resource !== form.get('resource')) {
        return 'invalid_grant';
      }
      return issue(client.id, old.scope, old.resource, options.refreshedTokenTtl ?? 3600, true);
    },
    client_credentials: async (client, form) =>
      issue(
        client.id,
        form.get('scope') ?? '',
        form.get('resource') ?? '',
        options.accessTokenTtl ?? 3600,
        false,
      ),
  };

  const token: Route = async (req, res) => {
    const form = new URLSearchParams(await readBody(req));
    const grantType = form.get('grant_type') ?? '';
    counts.grants[grantType] = (counts.grants[grantType] ?? 0) + 1;
    const client = authenticateClient(req, form);
    if (!client) return json(res, 401, { error: 'invalid_client' });
    const grant = grants[grantType];
    if (!grant) return json(res, 400, { error: 'unsupported_grant_type' });
    const outcome = await grant(client, form);
    return typeof outcome === 'string'
      ? json(res, 400, { error: outcome })
      : json(res, 200, outcome);
  };

  const revoke: Route = async (req, res) => {
    counts.revoke++;
    const form = new URLSearchParams(await readBody(req));
    const client = authenticateClient(req, form);
    if (!client) return json(res, 401, { error: 'invalid_client' });
    accessTokens.delete(form.get('token') ?? '');
    refreshTokens.delete(form.get('token') ?? '');
    res.writeHead(200);
    return res.end();
  };

  const asRoutes: Record<string, Route> = {
    [`GET /.well-known/oauth-authorization-server${prefix}`]: metadata,
    [`POST ${prefix}/register`]: register,
    [`GET ${prefix}/authorize`]: authorize,
    [`POST ${prefix}/token`]: token,
    [`POST ${prefix}/revoke`]: revoke,
  };
  as.server.on('request', async (req, res) => {
    const url = new URL(req.url ?? '/', asOrigin);
    const route = asRoutes[`${req.method} ${url.pathname}`];
    if (route) await route(req, res, url);
    else json(res, 404, { error: 'not_found' });
  });

  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const newMcpServer = () => {
    const server = new McpServer(
      { name: 'fixture', version: '1.0.0' },
      { capabilities: { logging: {} } },
    );
    server.registerTool(
      'echo',
      { description: 'Echoes its text', inputSchema: { text: z.string() } },
      async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }),
    );
    server.registerTool('fail', { description: 'Always fails' }, async () => ({
      content: [{ type: 'text', text: 'failed on purpose' }],
      isError: true,
    }));
    // A server-to-client request in the middle of a call (sampling), answered by the client.
    server.registerTool('ask', { description: 'Asks the client to sample' }, async (extra) => {
      const sampled = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: {
            messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }],
            maxTokens: 5,
          },
        },
        CreateMessageResultSchema,
      );
      const text = sampled.content.type === 'text' ? sampled.content.text : '?';
      return { content: [{ type: 'text', text: `client said: ${text}` }] };
    });
    server.registerTool('notify', { description: 'Sends a log notification' }, async (extra) => {
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level: 'info', data: 'hello from the server' },
      });
      return { content: [{ type: 'text', text: 'notified' }] };
    });
    return server;
  };

  /** The bearer check: writes the 401/403 and returns false when the request may not pass. */
  const authorized = (req: IncomingMessage, res: ServerResponse, method: string): boolean => {
    const auth = req.headers.authorization ?? '';
    const keyed = options.apiKey !== undefined && req.headers['x-api-key'] === options.apiKey;
    const token = keyed
      ? { scope: '', resource, expiresAt: Number.POSITIVE_INFINITY, clientId: 'api-key' }
      : auth.startsWith('Bearer ')
        ? accessTokens.get(auth.slice(7))
        : undefined;
    const rule = options.requiredScopes;
    const granted = token ? token.scope.split(' ').filter(Boolean) : [];
    const needed =
      typeof rule === 'function' ? rule(method, granted) : (rule?.[method] ?? rule?.['*'] ?? []);
    if (!token || token.expiresAt < Date.now() || token.resource !== resource) {
      const scopeAttr = needed.length ? `, scope="${needed.join(' ')}"` : '';
      const error = auth ? ', error="invalid_token"' : '';
      res.writeHead(401, {
        'www-authenticate': `Bearer resource_metadata="${prmUrl}"${scopeAttr}${error}`,
      });
      res.end();
      return false;
    }
    if (!needed.every((s) => granted.includes(s))) {
      res.writeHead(403, {
        'www-authenticate': `Bearer error="insufficient_scope", scope="${needed.join(' ')}", resource_metadata="${prmUrl}"`,
      });
      res.end();
      return false;
    }
    return true;
  };

  const serveStateless = async (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    const server = newMcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    return transport.handleRequest(req, res, body);
  };

  const serveStateful = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    method: string,
  ) => {
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (transport === undefined) {
      if (typeof sessionId === 'string' || method !== 'initialize') {
        return json(res, 404, {
          jsonrpc: '2.0',
          error: { code: -32001, message: 'Session not found' },
          id: null,
        });
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, created);
        },
      });
      await newMcpServer().connect(created);
      transport = created;
    }
    return transport.handleRequest(req, res, body);
  };

  mcp.server.on('request', async (req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${mcp.port}`);
    if (req.method === 'GET' && url.pathname === '/.well-known/oauth-protected-resource/mcp') {
      return json(res, 200, {
        resource,
        authorization_servers: [issuer],
        ...(options.scopesSupported ? { scopes_supported: options.scopesSupported } : {}),
        bearer_methods_supported: ['header'],
      });
    }
    if (url.pathname !== '/mcp') return json(res, 404, { error: 'not_found' });
    counts.mcp++;
    const text = req.method === 'POST' ? await readBody(req) : '';
    const body = text ? (JSON.parse(text) as { method?: string }) : undefined;
    const method = body?.method ?? `http:${req.method}`;
    if (!authorized(req, res, method)) return;
    if (options.stateful) return serveStateful(req, res, body, method);
    return serveStateless(req, res, body);
  });

  return {
    mcpUrl,
    issuer,
    counts,
    issued,
    dropSessions: () => {
      for (const transport of sessions.values()) void transport.close();
      sessions.clear();
    },
    revokeAll: () => {
      accessTokens.clear();
      refreshTokens.clear();
    },
    revokeAccessTokens: () => accessTokens.clear(),
    stop: async () => {
      for (const transport of sessions.values()) await transport.close().catch(() => undefined);
      await Promise.all([close(as.server), close(mcp.server)]);
    },
  };
}

async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
