/**
 * `portcullis/verify`: access-token verification for resource servers — the JWT/JWKS and
 * introspection verifiers, the Authorization header reader, the challenge builder, scope checks
 * and protected resource metadata — plus the SSRF-guarded fetch they use and the errors they
 * report. Every name is listed here on purpose (docs/api.md; test/api/exports.test.ts).
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
export {
  type AccessTokenPolicy,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  buildChallenge,
  buildKeySet,
  buildProtectedResourceMetadata,
  type ChallengeOptions,
  type ConfiguredVerifier,
  challengeOptionsFor,
  createAccessTokenVerifier,
  createIntrospectionVerifier,
  createRemoteKeySource,
  createStaticKeySource,
  createVerifierFromConfig,
  extractBearerToken,
  hasScope,
  type IntrospectionVerifierOptions,
  type JwtAccessTokenVerifier,
  type KeySet,
  type KeySource,
  type ProtectedResourceMetadata,
  protectedResourceMetadataForPath,
  type RemoteKeySource,
  type RemoteKeySourceOptions,
  requireScopes,
  type VerificationKey,
  type VerifiedToken,
  type VerifierFromConfigOptions,
} from './resource-server/index.ts';
