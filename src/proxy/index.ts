export {
  type AuthStage,
  bearerAuthentication,
  CHALLENGED_CODES,
  LOCAL_SUBJECT,
  localTrust,
  type MetadataRoute,
  type Principal,
  type RequestHeaders,
  type StageVerifier,
  verifyClosed,
} from './auth-stage.ts';
export {
  createGateway,
  type Gateway,
  type GatewayOptions,
  type Readiness,
  readinessResponse,
  VerificationNotAvailableError,
} from './gateway.ts';
export type { GatewayRequest } from './mcp-endpoint.ts';
export {
  MemoryRateLimiter,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimitOptions,
  type SharedCounters,
  SharedRateLimiter,
} from './rate-limit.ts';
export type { ReadinessCheck, ReadinessProbe } from './readiness.ts';
export {
  classify,
  newRequestFacts,
  type ObserverOptions,
  type RequestFacts,
  RequestObserver,
  type RequestOutcome,
  reasonOf,
} from './request-facts.ts';
export {
  type Answer,
  BoundedAnswer,
  errorToResponse,
  headerOf,
  isEventStream,
} from './responses.ts';
export {
  buildRouteTable,
  type McpRoute,
  normalizeRequestPath,
  type RouteEntry,
  type RouteTable,
  type RouteTableDescription,
} from './routes.ts';
export { SESSION_ID_PATTERN, type SharedSessions } from './sessions.ts';
export { runStdioFront, type StdioFrontOptions } from './stdio-front.ts';
export { type TraceContext, traceContextOf } from './trace-context.ts';
