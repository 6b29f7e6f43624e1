import type { IncomingMessage } from 'node:http';
import { RequestError } from '../errors/index.ts';
import { normalizeAddress } from '../lib/address.ts';
import { isLoopbackHost } from '../lib/host.ts';
import {
  type Answer,
  type Gateway,
  type GatewayRequest,
  normalizeRequestPath,
  type RequestFacts,
  type RouteEntry,
} from '../proxy/index.ts';
import { checkDeclaredLength, declaredLength } from './body.ts';
import { addCorsHeaders, checkHostAndOrigin, preflight } from './cors.ts';
import { checkMethodImplemented, checkTransferCoding } from './framing.ts';
import { checkRequestTarget, type HostPolicy } from './front-checks.ts';
import { readinessFor } from './readiness-exposure.ts';
import type { Exchange } from './request-front.ts';

/**
 * Routing, in one place: which handler answers a request, and which front checks apply to it
 * first. The path is normalized once and looked up in the gateway's route table; a path the
 * table does not know goes to the mounted authorization server, if there is one.
 */

/** A Web handler mounted beside the MCP routes: the co-located authorization server. */
export interface MountedHandler {
  /** Answers one of its own routes; undefined when the path is not one of them. */
  handle(
    request: Request,
    context: { clientAddress?: string; requestId?: string },
  ): Promise<Response | undefined>;
}

export interface RouterOptions {
  readonly gateway: Gateway;
  readonly hostPolicy: HostPolicy;
  readonly maxBodyBytes: number;
  readonly mounted?: MountedHandler | undefined;
}

/**
 * Finds and calls the handler; an answer known at once is returned as is (no promise to wait
 * for). A refusal is thrown, synchronously or as a rejection: the caller handles both alike.
 */
export type Router = (exchange: Exchange) => Answer | Promise<Answer>;

export function createRouter(options: RouterOptions): Router {
  const { gateway, hostPolicy, maxBodyBytes, mounted } = options;
  return (exchange) => {
    const { request, headers, facts } = exchange;
    checkTransferCoding(headers['transfer-encoding']);
    const path = normalizeRequestPath(checkRequestTarget(request.url));
    facts.path = path.length > 256 ? `${path.slice(0, 256)}…` : path;
    const entry = gateway.routes.lookup(path);
    if (entry?.kind !== 'mcp') checkMethodImplemented(request.method);
    if (entry === undefined) {
      if (mounted === undefined) throw new RequestError('RouteNotFound', 'no such endpoint');
      // Authorization-server endpoints are meant to be called cross-origin (token,
      // registration, metadata; RFC 8414 §3, RFC 7591 §3) and its forms carry CSRF tokens, so
      // only the Host is checked here (DNS rebinding).
      hostPolicy.checkHost(headers.host);
      checkDeclaredLength(declaredLength(headers), maxBodyBytes);
      // Tokens and grants are audited too: refuse while the trail cannot be written.
      gateway.observer.checkAuditWritable();
      return forwardToMounted(mounted, exchange, gateway.routes.publicUrl);
    }
    if (entry.kind === 'metrics' && !directLocalClient(request, headers)) {
      throw new RequestError('RouteNotFound', 'no such endpoint');
    }
    noteEntry(facts, entry, request.method);
    const origin = checkHostAndOrigin(hostPolicy, entry, headers);
    if (origin !== undefined) addCorsHeaders(exchange.extra, origin);
    if (request.method === 'OPTIONS' && entry.kind === 'mcp') {
      const answer = preflight(origin);
      if (answer.status >= 400) facts.reason = 'MethodNotAllowed';
      return answer;
    }
    checkDeclaredLength(declaredLength(headers), maxBodyBytes);
    exchange.path = path;
    const gatewayRequest: GatewayRequest = exchange;
    switch (entry.kind) {
      case 'mcp':
        return gateway.mcp(gatewayRequest, entry);
      case 'metadata':
        return gateway.metadata(gatewayRequest, entry.route);
      case 'healthz':
        return gateway.healthz();
      case 'readyz':
        return readinessFor(gateway, hostPolicy, headers.host);
      case 'metrics':
        return gateway.metrics(gatewayRequest);
    }
  };
}

/**
 * /metrics on the main listener (a loopback-only deployment) answers only a client on this
 * machine talking to it directly, not one relayed by a local reverse proxy.
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
  handler: MountedHandler,
  exchange: Exchange,
  origin: string,
): Promise<Response> {
  const method = exchange.request.method ?? 'GET';
  exchange.mounted = true;
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const body = hasBody ? await exchange.readBody() : undefined;
  const request = new Request(`${origin}${exchange.request.url ?? '/'}`, {
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
