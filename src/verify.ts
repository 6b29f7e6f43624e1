/**
 * portcullis/verify: access-token verification for resource servers — the JWT/JWKS and
 * introspection verifiers, the Authorization header reader, the challenge builder, scope checks
 * and protected resource metadata — plus the error catalogue they report with.
 */
export {
  isRequestError,
  REQUEST_ERRORS,
  type RenderedError,
  RequestError,
  type RequestErrorCode,
  renderRequestError,
} from './errors/index.ts';
export {
  createGuardedFetch,
  type GuardedFetch,
  type GuardedFetchOptions,
  isBlockedAddress,
} from './net/index.ts';
export * from './resource-server/index.ts';
