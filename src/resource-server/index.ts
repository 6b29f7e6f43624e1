export { extractBearerToken } from './bearer.ts';
export {
  bearerChallenge,
  buildChallenge,
  type ChallengeOptions,
  resourceChallenges,
} from './challenge.ts';
export {
  accessTokenHash,
  createDpopProofVerifier,
  DEFAULT_DPOP_SKEW_SECONDS,
  DPOP_ALGORITHMS,
  type DpopAlgorithm,
  type DpopContext,
  type DpopProofRequest,
  type DpopProofVerifier,
  type DpopProofVerifierOptions,
  htuOf,
  type VerifiedDpopProof,
} from './dpop.ts';
export {
  type ConfiguredDpop,
  createDpopFromConfig,
  type DpopFromConfigOptions,
} from './dpop-from-config.ts';
export { jwkThumbprint } from './dpop-key.ts';
export { createDpopNonces, type DpopNonces } from './dpop-nonce.ts';
export {
  type ConfiguredVerifier,
  createVerifierFromConfig,
  type VerifierFromConfigOptions,
} from './from-config.ts';
export {
  createIntrospectionVerifier,
  type IntrospectionVerifierOptions,
} from './introspection.ts';
export {
  type AccessTokenPolicy,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
  DEFAULT_MAX_TOKEN_LENGTH,
  type JwtAccessTokenVerifier,
} from './jwt-verifier.ts';
export { buildKeySet, KeySet, MAX_KEYS_PER_SET, type VerificationKey } from './key-set.ts';
export {
  createRemoteKeySource,
  createStaticKeySource,
  type KeySource,
  type RemoteKeySource,
  type RemoteKeySourceOptions,
} from './key-source.ts';
export {
  buildProtectedResourceMetadata,
  challengeOptionsFor,
  type ProtectedResourceMetadata,
  protectedResourceMetadataForPath,
} from './metadata.ts';
export {
  type AuthenticatedAccess,
  type AuthScheme,
  authenticateRequest,
  DPOP_MODES,
  type DpopMode,
  extractAccessToken,
  type PresentationPolicy,
  type PresentationRequest,
  type PresentedCredentials,
} from './presentation.ts';
export { createMemoryReplayCache, type ReplayCache, ReplayCacheFullError } from './replay-cache.ts';
export { hasScope, requireScopes } from './scope.ts';
export { tokenIdHash } from './token-id.ts';
export type { AccessTokenVerifier, VerifiedToken } from './verifier.ts';
