import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import { addressMatcher } from '../lib/address.ts';
import { type Logger, logAccess } from '../lib/log.ts';
import {
  errorToResponse,
  type Gateway,
  isEventStream,
  type RequestObserver,
  reasonOf,
} from '../proxy/index.ts';
import {
  answerClientError,
  type ConnectionTracker,
  capacityExceeded,
  RETRY_AFTER_SECONDS,
  refuseConnect,
  trackConnections,
} from './connections.ts';
import { HostPolicy } from './front-checks.ts';
import { Exchange, type FrontLimits } from './request-front.ts';
import { writeAnswer } from './respond.ts';
import { createRouter, type MountedHandler, type Router } from './routing.ts';

/**
 * The HTTP front: node:http with every limit set explicitly (RFC 9112 framing is Node's; header
 * counts, duplicates, sizes, times and connection caps are ours). One request goes
 *   request-front.ts (id, headers, client address) → routing.ts (Host/Origin, CORS, size caps,
 *   which handler) → the gateway or the mounted authorization server → respond.ts (the write),
 * and is audited once, when its status is known.
 */

export interface HttpFrontOptions {
  readonly logger: Logger;
  /** Audit and request metrics, one record per request that reaches a decision. */
  readonly observer: RequestObserver;
  /** The co-located authorization server, asked for every path the gateway does not route. */
  readonly mounted?: MountedHandler | undefined;
}

export interface HttpFront {
  readonly server: http.Server;
  /** The port listened on (the live one when the bind address says 0). */
  readonly port: number;
  readonly connections: ConnectionTracker;
  /** Starts answering through this gateway; until then requests get 503 and Retry-After. */
  serve(gateway: Gateway): void;
  /**
   * Graceful stop: new connections refused, server-to-client streams ended, requests in flight
   * given remote_mcp.shutdown_grace_seconds, then every connection closed.
   */
  close(): Promise<void>;
}

/** Binds the public listener (remote_mcp.bind_address, or the --bind override). */
export async function listenHttpFront(
  loaded: LoadedConfig,
  options: HttpFrontOptions,
): Promise<HttpFront> {
  const rm = loaded.config.remote_mcp;
  const { logger, observer } = options;
  const headerTimeoutMs = rm.header_timeout_seconds * 1000;
  const server = http.createServer({
    maxHeaderSize: rm.max_header_bytes,
    headersTimeout: headerTimeoutMs,
    requestTimeout: rm.request_timeout_seconds * 1000,
    keepAliveTimeout: rm.keep_alive_timeout_seconds * 1000,
    // Node checks the two timeouts above only this often (default 30 s); a quarter of the
    // header timeout closes a slow client within about 1.25× of it.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, headerTimeoutMs / 4)),
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
  });
  // One more than the cap, so that going over it is visible in rawHeaders (431, ours).
  server.maxHeadersCount = rm.max_header_count + 1;
  server.maxRequestsPerSocket = 1000;
  server.timeout = 0;

  const limits: FrontLimits = {
    maxHeaderCount: rm.max_header_count,
    maxHeaderBytes: rm.max_header_bytes,
    maxBodyBytes: rm.max_body_bytes,
    trusted: addressMatcher(rm.trusted_proxies),
  };
  const exchanges = new Set<Exchange>();
  const connections = trackConnections(server, rm.max_connections, headerTimeoutMs);
  let router: Router | undefined;
  let gateway: Gateway | undefined;
  let closing = false;

  const handle = async (
    request: IncomingMessage,
    response: ServerResponse,
    expectsContinue: boolean,
  ) => {
    const exchange = new Exchange(request, response, expectsContinue, limits);
    exchanges.add(exchange);
    // 'close' is emitted once; `on` spares the wrapper `once` makes per request.
    response.on('close', () => {
      exchanges.delete(exchange);
      exchange.closed();
    });
    // One audit record and one metrics observation, once the status is known. Where the audit
    // trail records the request, its access line is debug only: the same decision is not written
    // twice per request at the default level (the audit record carries the same fields).
    const accessLevel = observer.sink === undefined ? 'info' : 'debug';
    let logged = false;
    const decided = (status: number) => {
      observer.finish(exchange.facts, {
        requestId: exchange.requestId,
        clientAddress: exchange.clientAddress,
        httpMethod: request.method,
        status,
      });
      if (!exchange.mounted && !logged) {
        logged = true;
        logAccess(
          logger,
          {
            server: 'gateway',
            method: request.method ?? '',
            route: exchange.facts.path ?? '(unrouted)',
            status,
            durationMs: performance.now() - exchange.facts.startedAt,
            clientId: exchange.facts.principal?.clientId,
            reason: exchange.facts.reason,
            requestId: exchange.requestId,
          },
          accessLevel,
        );
      }
    };
    try {
      exchange.accept();
      if (connections.isOverCap(request.socket)) throw capacityExceeded();
      if (router === undefined) {
        throw new RequestError('UpstreamUnavailable', 'starting', {
          details: { retryAfter: RETRY_AFTER_SECONDS },
        });
      }
      const answer = await router(exchange);
      exchange.standaloneStream = request.method === 'GET' && isEventStream(answer);
      exchange.closeIfBodyUnread();
      decided(answer.status);
      const writing = writeAnswer(response, answer, exchange.extra, closing);
      if (writing !== undefined) await writing;
    } catch (error) {
      if (!exchange.facts.finished) exchange.facts.reason ??= reasonOf(error);
      await answerError(exchange, error, closing, logger, decided);
    }
  };

  server.on('request', (request, response) => void handle(request, response, false));
  server.on('checkContinue', (request, response) => void handle(request, response, true));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    answerClientError(error, socket, logger, observer);
  });
  server.on('connect', (request: IncomingMessage, socket: Socket) => {
    refuseConnect(request, socket, observer);
  });

  const bind = loaded.derived.bind;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : bind.port;

  let stopping: Promise<void> | undefined;
  return {
    server,
    port,
    connections,
    serve(live) {
      gateway = live;
      router = createRouter({
        gateway: live,
        hostPolicy: new HostPolicy({
          publicUrl: live.routes.publicUrl,
          bindHost: bind.host,
          port,
          allowedOrigins: rm.allowed_origins,
        }),
        maxBodyBytes: rm.max_body_bytes,
        mounted: options.mounted,
      });
    },
    close() {
      stopping ??= (async () => {
        closing = true;
        gateway?.drain();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Server-to-client streams have no end of their own: end them now (clients reconnect
        // elsewhere); requests in flight get the grace period to finish.
        for (const exchange of exchanges) if (exchange.standaloneStream) exchange.response.end();
        server.closeIdleConnections();
        const deadline = Date.now() + rm.shutdown_grace_seconds * 1000;
        while (Date.now() < deadline && [...exchanges].some((e) => !e.standaloneStream)) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          server.closeIdleConnections();
        }
        server.closeAllConnections();
        await stopped;
      })();
      return stopping;
    },
  };
}

async function answerError(
  exchange: Exchange,
  error: unknown,
  closing: boolean,
  logger: Logger,
  decided: (status: number) => void,
): Promise<void> {
  const { request, response, extra } = exchange;
  const requestId = exchange.requestId;
  if (!(error instanceof RequestError)) logger.error({ err: error, requestId }, 'request failed');
  else if (error.status >= 500) logger.warn({ requestId, code: error.code }, error.message);
  const closes =
    !request.complete ||
    (error instanceof RequestError && (error.status === 413 || error.code === 'CapacityExceeded'));
  if (closes) extra.connection = 'close';
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const answer = errorToResponse(error);
  decided(answer.status);
  await writeAnswer(response, answer, extra, closing);
}
