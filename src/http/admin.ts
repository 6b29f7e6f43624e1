import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { BindAddress } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import type { GatewayMetrics } from '../metrics/index.ts';
import { BoundedAnswer, errorToResponse, type Gateway, readinessResponse } from '../proxy/index.ts';
import { HostPolicy } from './front-checks.ts';

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
}): Promise<AdminServer> {
  const { bind, gateway, metrics } = options;
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

  const answer = async (request: IncomingMessage): Promise<BoundedAnswer> => {
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
      let reply: BoundedAnswer;
      try {
        reply = await answer(request);
      } catch (error) {
        if (!(error instanceof RequestError)) {
          options.logger.error({ err: error }, 'admin request failed');
        }
        reply = errorToResponse(error);
      }
      const body = request.method === 'HEAD' ? '' : (reply.body ?? '');
      response.writeHead(reply.status, reply.headers);
      response.end(body);
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
    'admin listener: /metrics, /healthz, /readyz',
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
