import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { BindAddress } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import type { GatewayMetrics } from '../metrics/index.ts';
import { BoundedAnswer, errorToResponse, type Gateway, readinessResponse } from '../proxy/index.ts';
import { readBody } from './body.ts';
import { HostPolicy } from './front-checks.ts';

/** Sign-in and admin forms are small. */
const ADMIN_FORM_MAX_BYTES = 16 * 1024;

/**
 * The admin listener (remote_mcp.admin_bind_address): /metrics, /healthz and /readyz, GET or
 * HEAD, nothing else. It is for Prometheus and orchestrators, not browsers: a request with an
 * Origin is refused, and on a loopback address the Host must be a loopback name at its port
 * (DNS rebinding). Requests here are not audited: they decide nothing about MCP access.
 */

export interface AdminServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startAdminServer(options: {
  readonly bind: BindAddress;
  readonly gateway: Gateway;
  readonly metrics: GatewayMetrics | undefined;
  readonly logger: Logger;
  /**
   * The admin page of the co-located authorization server and its sign-in (/oauth/…), served
   * here instead of on the public listener. A person uses them in a browser: their forms are
   * CSRF-protected, and an Origin is accepted only when it is this listener's own.
   */
  readonly pages?: {
    handleAdmin(
      request: Request,
      context: { clientAddress?: string; requestId?: string },
    ): Promise<Response | undefined>;
  };
}): Promise<AdminServer> {
  const { bind, gateway, metrics, pages } = options;
  let ownOrigin = '';
  const server = http.createServer({
    maxHeaderSize: 8192,
    headersTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 1_000,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
  });
  server.maxConnections = 64;
  let hosts: HostPolicy | undefined;

  const answerPage = async (request: IncomingMessage): Promise<Response> => {
    hosts?.checkHost(request.headers.host);
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== ownOrigin) {
      throw new RequestError('RequestOriginForbidden', 'a form from another origin');
    }
    const method = request.method ?? 'GET';
    const body = method === 'POST' ? await readBody(request, ADMIN_FORM_MAX_BYTES) : undefined;
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === 'string') headers.set(name, value);
    }
    const answer = await pages?.handleAdmin(
      new Request(`${ownOrigin}${request.url ?? '/'}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: new Uint8Array(body) }),
      }),
      {
        ...(request.socket.remoteAddress === undefined
          ? {}
          : { clientAddress: request.socket.remoteAddress }),
        requestId: randomUUID(),
      },
    );
    if (answer === undefined) throw new RequestError('RouteNotFound', 'no such endpoint');
    return answer;
  };

  const answer = async (request: IncomingMessage): Promise<BoundedAnswer | Response> => {
    if (pages !== undefined && (request.url ?? '').startsWith('/oauth/')) {
      return answerPage(request);
    }
    const method = request.method ?? '';
    if (method !== 'GET' && method !== 'HEAD') {
      throw new RequestError('MethodNotAllowed', `${method} is not supported here`, {
        details: { allow: 'GET, HEAD' },
      });
    }
    if (request.headers.origin !== undefined) {
      throw new RequestError('RequestOriginForbidden', 'the admin listener is not for browsers');
    }
    hosts?.checkHost(request.headers.host);
    const path = (request.url ?? '').split('?')[0];
    if (path === '/healthz') {
      return new BoundedAnswer(
        200,
        { 'content-type': 'application/json', 'cache-control': 'no-store' },
        JSON.stringify({ status: 'ok' }),
      );
    }
    if (path === '/readyz') return readinessResponse(await gateway.readiness());
    if (path === '/metrics' && metrics !== undefined) {
      const { contentType, body } = await metrics.render();
      return new BoundedAnswer(
        200,
        { 'content-type': contentType, 'cache-control': 'no-store' },
        body,
      );
    }
    throw new RequestError('RouteNotFound', 'no such endpoint');
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      let reply: BoundedAnswer | Response;
      try {
        reply = await answer(request);
      } catch (error) {
        if (!(error instanceof RequestError)) {
          options.logger.error({ err: error }, 'admin request failed');
        }
        reply = errorToResponse(error);
      }
      await writeReply(response, reply, request.method === 'HEAD');
    })();
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : bind.port;
  const authority = `${bind.host.includes(':') ? `[${bind.host}]` : bind.host}:${port}`;
  ownOrigin = `http://${authority}`;
  if (bind.loopback) {
    hosts = new HostPolicy({
      publicUrl: `http://${authority}`,
      bindHost: bind.host,
      port,
      allowedOrigins: [],
    });
  }
  options.logger.info(
    { url: `http://${authority}` },
    `admin listener: /metrics, /healthz, /readyz${pages === undefined ? '' : ', /oauth/admin'}`,
  );
  return {
    url: `http://${authority}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Writes the admin listener's answer: bounded (probes, metrics, errors) as is; a Web Response
 * (the sign-in pages) read whole, each Set-Cookie its own header line (iterating a Headers
 * object would keep only one).
 */
async function writeReply(
  response: ServerResponse,
  reply: BoundedAnswer | Response,
  headOnly: boolean,
): Promise<void> {
  if (reply instanceof BoundedAnswer) {
    response.writeHead(reply.status, reply.headers);
    response.end(headOnly ? '' : (reply.body ?? ''));
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of reply.headers) headers[name] = value;
  const cookies = reply.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = headOnly ? '' : await reply.text();
  response.writeHead(reply.status, headers);
  response.end(body);
}
