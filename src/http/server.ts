import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AuditSink } from '../audit/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { RequestError, renderRequestError } from '../errors/index.ts';
import { addressMatcher, normalizeAddress } from '../lib/address.ts';
import { isLoopbackHost } from '../lib/host.ts';
import type { Logger } from '../lib/log.ts';
import { GatewayMetrics } from '../metrics/index.ts';
import {
  createGateway,
  errorToResponse,
  type Gateway,
  type GatewayRequest,
  newRequestFacts,
  normalizeRequestPath,
  type RateLimiter,
  type ReadinessProbe,
  type RequestFacts,
  RequestObserver,
  type RouteEntry,
  reasonOf,
  type TokenAuthentication,
  traceContextOf,
} from '../proxy/index.ts';
import { type AdminServer, startAdminServer } from './admin.ts';
import { checkDeclaredLength, declaredLength, readBody } from './body.ts';
import {
  checkRawHeaders,
  checkRequestTarget,
  clientAddressOf,
  HostPolicy,
  requestIdFrom,
} from './front-checks.ts';

/**
 * The HTTP front: node:http with every limit set explicitly (RFC 9112 framing is Node's; header
 * counts, duplicates, sizes, times and connection caps are ours), request ids, Host and Origin
 * checks, then the gateway. Seed 000: a small bounded HTTP/1.1 server.
 */

/** A Web handler mounted beside the MCP routes: the co-located authorization server. */
export interface MountedHandler {
  /** Answers one of its own routes; undefined when the path is not one of them. */
  handle(
    request: Request,
    context: { clientAddress?: string; requestId?: string },
  ): Promise<Response | undefined>;
}

export interface HttpGatewayOptions {
  readonly logger: Logger;
  /** Token verification for `auth: oauth`. */
  readonly auth?: TokenAuthentication | undefined;
  readonly rateLimiter?: RateLimiter;
  /** The co-located authorization server, asked for every path the gateway does not route. */
  readonly authorizationServer?: MountedHandler | undefined;
  /**
   * The audit trail (createAuditSink from the config's `audit` block). Without it, nothing is
   * audited; with it, one record per request that reaches a decision, and requests are refused
   * with 503 AuditUnavailable while it cannot write (unless audit.on_write_failure: continue).
   * The caller closes it after the gateway.
   */
  readonly audit?: AuditSink | undefined;
  /** Prometheus metrics; default: a new GatewayMetrics (disposed at close); false: none. */
  readonly metrics?: GatewayMetrics | false;
  /** More readiness checks for /readyz (the store, say). */
  readonly readinessProbes?: readonly ReadinessProbe[];
}

export interface RunningHttpGateway {
  /** The gateway's public origin (the live port when the bind address says 0). */
  readonly url: string;
  readonly port: number;
  readonly gateway: Gateway;
  readonly server: http.Server;
  /** The admin listener's origin (remote_mcp.admin_bind_address), when configured. */
  readonly adminUrl: string | undefined;
  readonly metrics: GatewayMetrics | undefined;
  /** Graceful shutdown: stop accepting, end SSE streams, drain requests, stop children. */
  close(): Promise<void>;
}

/** Seconds a client turned away at the connection cap is asked to wait. */
const RETRY_AFTER_SECONDS = '1';
/** Response headers a browser client on an allowed origin may read (CORS). */
const EXPOSED_HEADERS = 'mcp-session-id, mcp-protocol-version, www-authenticate, x-request-id';

interface Exchange {
  readonly response: ServerResponse;
  /** A server-to-client stream that may be ended at shutdown rather than drained. */
  standaloneStream: boolean;
}

export async function startHttpGateway(
  loaded: LoadedConfig,
  options: HttpGatewayOptions,
): Promise<RunningHttpGateway> {
  const rm = loaded.config.remote_mcp;
  const logger = options.logger;
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

  const trusted = addressMatcher(rm.trusted_proxies);
  const observer = new RequestObserver({
    sink: options.audit,
    onWriteFailure: loaded.config.audit.on_write_failure,
  });
  const metrics = options.metrics === false ? undefined : (options.metrics ?? new GatewayMetrics());
  const exchanges = new Set<Exchange>();
  const connections = trackConnections(server, rm.max_connections, headerTimeoutMs);
  let gateway: Gateway | undefined;
  let hostPolicy: HostPolicy | undefined;
  let shuttingDown = false;

  /** Front checks, in order; returns the gateway's answer, or a preflight answer. */
  const route = (
    request: IncomingMessage,
    headers: Record<string, string>,
    extra: Record<string, string>,
    facts: RequestFacts,
  ): { path: string; entry: RouteEntry; live: Gateway } | 'authorization-server' | Response => {
    if (connections.isOverCap(request.socket)) {
      throw new RequestError('CapacityExceeded', 'too many connections', {
        details: { retryAfter: RETRY_AFTER_SECONDS },
      });
    }
    const path = normalizeRequestPath(checkRequestTarget(request.url));
    facts.path = path.length > 256 ? `${path.slice(0, 256)}…` : path;
    if (gateway === undefined || hostPolicy === undefined) {
      throw new RequestError('UpstreamUnavailable', 'starting', {
        details: { retryAfter: RETRY_AFTER_SECONDS },
      });
    }
    const entry = gateway.routes.lookup(path);
    if (entry === undefined) {
      if (options.authorizationServer === undefined) {
        throw new RequestError('RouteNotFound', 'no such endpoint');
      }
      // Authorization-server endpoints are meant to be called cross-origin (token,
      // registration, metadata; RFC 8414 §3, RFC 7591 §3) and its forms carry CSRF tokens, so
      // only the Host is checked here (DNS rebinding).
      hostPolicy.checkHost(headers.host);
      checkDeclaredLength(declaredLength(headers), rm.max_body_bytes);
      return 'authorization-server';
    }
    if (entry.kind === 'metrics' && !directLocalClient(request, headers)) {
      throw new RequestError('RouteNotFound', 'no such endpoint');
    }
    noteEntry(facts, entry, request.method);
    const cors = checkHostAndOrigin(hostPolicy, entry, headers);
    if (cors !== undefined) {
      Object.assign(extra, {
        'access-control-allow-origin': cors,
        'access-control-expose-headers': EXPOSED_HEADERS,
        vary: 'Origin',
      });
    }
    if (request.method === 'OPTIONS' && entry.kind === 'mcp') {
      const answer = preflight(cors);
      if (answer.status >= 400) facts.reason = 'MethodNotAllowed';
      return answer;
    }
    checkDeclaredLength(declaredLength(headers), rm.max_body_bytes);
    return { path, entry, live: gateway };
  };

  const handle = async (
    request: IncomingMessage,
    response: ServerResponse,
    expectsContinue: boolean,
  ) => {
    const facts = newRequestFacts();
    const exchange: Exchange = { response, standaloneStream: false };
    exchanges.add(exchange);
    response.once('close', () => exchanges.delete(exchange));
    const extra: Record<string, string> = { 'x-request-id': randomUUID() };
    let clientAddress = clientAddressOf(request.socket.remoteAddress, undefined, trusted);
    // One audit record and one metrics observation, once the status is known.
    const decided = (status: number) =>
      observer.finish(facts, {
        requestId: extra['x-request-id'] ?? '',
        clientAddress,
        httpMethod: request.method,
        status,
      });
    let bodyRead = false;
    try {
      const headers = checkRawHeaders(request.rawHeaders, {
        maxCount: rm.max_header_count,
        maxBytes: rm.max_header_bytes,
      });
      const requestId = requestIdFrom(headers['x-request-id']);
      extra['x-request-id'] = requestId;
      clientAddress = clientAddressOf(
        request.socket.remoteAddress,
        headers['x-forwarded-for'],
        trusted,
      );
      facts.traceId = traceContextOf(headers)?.traceId;
      const routed = route(request, headers, extra, facts);
      if (routed instanceof Response) {
        decided(routed.status);
        await send(response, routed, extra, shuttingDown);
        return;
      }
      const readRequestBody = async () => {
        if (expectsContinue) response.writeContinue();
        const body = await readBody(request, rm.max_body_bytes);
        bodyRead = true;
        return body;
      };
      if (routed === 'authorization-server') {
        // Tokens and grants are audited too: refuse while the trail cannot be written.
        observer.checkAuditWritable();
        const answer = await forwardToMounted(options.authorizationServer, {
          request,
          headers,
          requestId,
          clientAddress,
          origin: gateway?.routes.publicUrl ?? '',
          readBody: readRequestBody,
        });
        if (!request.complete && !bodyRead) extra.connection = 'close';
        decided(answer.status);
        await send(response, answer, extra, shuttingDown);
        return;
      }
      const abort = new AbortController();
      // Only a client that leaves before its answer is complete cancels the work; aborting on
      // every close would build a DOMException per request (measured: ~3% of CPU).
      response.once('close', () => {
        if (!response.writableFinished) abort.abort();
      });
      const gatewayRequest: GatewayRequest = {
        method: request.method ?? 'GET',
        path: routed.path,
        headers,
        requestId,
        clientAddress,
        signal: abort.signal,
        facts,
        readBody: readRequestBody,
      };
      const answer = await routed.live.handle(gatewayRequest, routed.entry);
      exchange.standaloneStream = request.method === 'GET' && isEventStream(answer);
      // The rest of an unread body would be parsed as the next request: close instead.
      if (!request.complete && !bodyRead) extra.connection = 'close';
      decided(answer.status);
      await send(response, answer, extra, shuttingDown);
    } catch (error) {
      if (!facts.finished) facts.reason ??= reasonOf(error);
      await answerError(request, response, error, extra, shuttingDown, logger, decided);
    }
  };

  server.on('request', (request, response) => void handle(request, response, false));
  server.on('checkContinue', (request, response) => void handle(request, response, true));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    answerClientError(error, socket, logger, observer);
  });
  server.on('connect', (request: IncomingMessage, socket: Socket) => {
    const refusal = new RequestError('MethodNotAllowed', 'CONNECT is not supported');
    const requestId = randomUUID();
    const facts = newRequestFacts();
    facts.reason = refusal.code;
    observer.finish(facts, {
      requestId,
      clientAddress: normalizeAddress(socket.remoteAddress ?? 'unknown'),
      httpMethod: request.method,
      status: refusal.status,
    });
    socket.end(rawResponse(refusal, requestId));
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
  try {
    gateway = createGateway(loaded, {
      logger,
      auth: options.auth,
      ...(options.rateLimiter === undefined ? {} : { rateLimiter: options.rateLimiter }),
      actualPort: port,
      observer,
      // Metrics on the public listener only when nothing but this machine can reach it.
      ...(metrics !== undefined && loaded.derived.metricsListener === 'main' ? { metrics } : {}),
      ...(options.readinessProbes === undefined
        ? {}
        : { readinessProbes: options.readinessProbes }),
    });
  } catch (error) {
    await new Promise((resolve) => server.close(resolve));
    if (options.metrics === undefined) metrics?.dispose();
    throw error;
  }
  hostPolicy = new HostPolicy({
    publicUrl: gateway.routes.publicUrl,
    bindHost: bind.host,
    port,
    allowedOrigins: rm.allowed_origins,
  });
  const live = gateway;
  metrics?.setSources({
    openConnections: () => connections.open,
    sessions: () => live.sessions.size,
    childProcesses: () => live.childProcesses(),
    ...(options.audit === undefined
      ? {}
      : { auditSinkHealthy: () => observer.sink?.healthy ?? true }),
  });
  let admin: AdminServer | undefined;
  if (loaded.derived.admin !== undefined) {
    try {
      admin = await startAdminServer({
        bind: loaded.derived.admin,
        gateway: live,
        metrics,
        logger,
      });
    } catch (error) {
      await live.close();
      await new Promise((resolve) => server.close(resolve));
      if (options.metrics === undefined) metrics?.dispose();
      throw error;
    }
  } else if (metrics !== undefined && loaded.derived.metricsListener === 'none') {
    logger.warn(
      'metrics are not served: the gateway is reachable beyond this machine and remote_mcp.admin_bind_address is not set',
    );
  }
  logger.info(
    {
      url: live.routes.publicUrl,
      routes: live.routes.routes.map(
        (route) => `${route.path} → ${route.name} (${route.transport})`,
      ),
      auth: live.auth.mode,
    },
    'gateway listening',
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      shuttingDown = true;
      live.drain();
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
      await live.close();
      await stopped;
      await admin?.close();
      if (options.metrics === undefined) metrics?.dispose();
      logger.info('gateway stopped');
    })();
    return closing;
  };

  return {
    url: live.routes.publicUrl,
    port,
    gateway: live,
    server,
    adminUrl: admin?.url,
    metrics,
    close,
  };
}

/**
 * RS-07: /metrics on the main listener (a loopback-only deployment) answers only a client on
 * this machine talking to it directly, not one relayed by a local reverse proxy.
 */
function directLocalClient(request: IncomingMessage, headers: Record<string, string>): boolean {
  const relayed =
    headers.forwarded !== undefined ||
    headers['x-forwarded-for'] !== undefined ||
    headers['x-real-ip'] !== undefined;
  return !relayed && isLoopbackHost(normalizeAddress(request.socket.remoteAddress ?? ''));
}

/** What the route says about the request, for its audit record and metrics. */
function noteEntry(facts: RequestFacts, entry: RouteEntry, method: string | undefined): void {
  if (entry.kind === 'mcp') {
    facts.kind = method === 'OPTIONS' ? 'preflight' : 'mcp';
    facts.upstream = entry.name;
  } else if (entry.kind === 'metadata') {
    facts.kind = 'metadata';
    facts.upstream = entry.route.name;
  } else {
    facts.kind = 'probe';
  }
}

/** Hands a request to the mounted Web handler; 404 when it does not serve the path either. */
async function forwardToMounted(
  handler: MountedHandler | undefined,
  exchange: {
    request: IncomingMessage;
    headers: Readonly<Record<string, string>>;
    requestId: string;
    clientAddress: string;
    origin: string;
    readBody: () => Promise<Uint8Array>;
  },
): Promise<Response> {
  if (handler === undefined) throw new RequestError('RouteNotFound', 'no such endpoint');
  const method = exchange.request.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const body = hasBody ? await exchange.readBody() : undefined;
  const request = new Request(`${exchange.origin}${exchange.request.url ?? '/'}`, {
    method,
    headers: Object.entries(exchange.headers),
    ...(body === undefined ? {} : { body: new Uint8Array(body) }),
  });
  const answer = await handler.handle(request, {
    clientAddress: exchange.clientAddress,
    requestId: exchange.requestId,
  });
  if (answer === undefined) throw new RequestError('RouteNotFound', 'no such endpoint');
  return answer;
}

async function answerError(
  request: IncomingMessage,
  response: ServerResponse,
  error: unknown,
  extra: Record<string, string>,
  shuttingDown: boolean,
  logger: Logger,
  decided: (status: number) => void,
): Promise<void> {
  const requestId = extra['x-request-id'];
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
  await send(response, answer, extra, shuttingDown);
}

function checkHostAndOrigin(
  policy: HostPolicy,
  entry: RouteEntry,
  headers: Readonly<Record<string, string>>,
): string | undefined {
  // Health probes come from orchestrators that address the pod, not the public host.
  if (entry.kind === 'healthz' || entry.kind === 'readyz') return undefined;
  policy.checkHost(headers.host);
  // Protected resource metadata is public and credential-free: any origin may read it.
  if (entry.kind === 'metadata') return undefined;
  return policy.checkOrigin(headers.origin);
}

/** CORS preflight for a browser client on an allowed origin; nothing for anyone else. */
function preflight(origin: string | undefined): Response {
  if (origin === undefined) {
    return errorToResponse(
      new RequestError('MethodNotAllowed', 'OPTIONS is only for CORS preflight', {
        details: { allow: 'GET, POST, DELETE' },
      }),
    );
  }
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers':
        'authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id',
      'access-control-max-age': '600',
    },
  });
}

function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
}

/** Writes a Web Response to a node response, streaming the body with backpressure. */
async function send(
  response: ServerResponse,
  answer: Response,
  extra: Record<string, string>,
  shuttingDown: boolean,
): Promise<void> {
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    headers[name] = value;
  });
  Object.assign(headers, extra);
  if (shuttingDown) headers.connection = 'close';
  if (headers['content-length'] !== undefined && !isEventStream(answer)) {
    // Known, bounded length: head and body leave in one write.
    const whole = Buffer.from(await answer.arrayBuffer());
    response.writeHead(answer.status, headers);
    response.end(whole);
    return;
  }
  response.writeHead(answer.status, headers);
  const body = answer.body;
  if (body === null) {
    response.end();
    return;
  }
  if (isEventStream(answer)) response.flushHeaders();
  const reader = body.getReader();
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  response.once('close', cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!response.write(value)) await drained(response);
      if (response.destroyed) return;
    }
    response.end();
  } catch {
    response.destroy();
  } finally {
    response.off('close', cancel);
  }
}

function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}

/**
 * The connection cap (seed 000: max_connections → 503). Connections beyond it still get a
 * proper answer: their first request is met with 503, Retry-After and Connection: close. Beyond
 * twice the cap, new connections are dropped at once.
 */
function trackConnections(server: http.Server, max: number, headerTimeoutMs: number) {
  let active = 0;
  let over = 0;
  const overCap = new WeakSet<Socket>();
  server.prependListener('connection', (socket: Socket) => {
    if (active < max) {
      active += 1;
      socket.once('close', () => {
        active -= 1;
      });
      return;
    }
    if (over >= max) {
      socket.destroy();
      return;
    }
    over += 1;
    overCap.add(socket);
    socket.once('close', () => {
      over -= 1;
    });
    socket.setTimeout(headerTimeoutMs, () => socket.destroy());
  });
  return {
    isOverCap: (socket: Socket) => overCap.has(socket),
    get active() {
      return active;
    },
    /** Every open connection, those over the cap (answered 503) included. */
    get open() {
      return active + over;
    },
  };
}

/** Answers what Node's parser refused, with our error body, and closes the connection. */
function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Socket,
  logger: Logger,
  observer: RequestObserver,
): void {
  const written = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || written?.headersSent) {
    socket.destroy();
    return;
  }
  const requestError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new RequestError('RequestHeadersTooLarge', 'request headers too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RequestError('RequestTimeout', 'the request took too long to arrive')
        : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? new RequestError('RequestBodyTooLarge', 'chunk extensions too large')
          : new RequestError('RequestMalformed', 'malformed HTTP request');
  logger.info({ code: requestError.code, parser: error.code }, 'refused by the HTTP parser');
  const requestId = randomUUID();
  const facts = newRequestFacts();
  facts.reason = requestError.code;
  observer.finish(facts, {
    requestId,
    clientAddress: normalizeAddress(socket.remoteAddress ?? 'unknown'),
    httpMethod: undefined,
    status: requestError.status,
  });
  socket.end(rawResponse(requestError, requestId));
  setTimeout(() => socket.destroy(), 1000).unref();
}

function rawResponse(error: RequestError, requestId = randomUUID()): string {
  const rendered = renderRequestError(error);
  const lines = [`HTTP/1.1 ${rendered.status} ${http.STATUS_CODES[rendered.status] ?? ''}`];
  for (const [name, value] of Object.entries(rendered.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${Buffer.byteLength(rendered.body)}`);
  lines.push(`x-request-id: ${requestId}`);
  lines.push('connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${rendered.body}`;
}
