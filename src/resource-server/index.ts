export { extractBearerToken } from './bearer.ts';
export { bearerChallenge, buildChallenge, type ChallengeOptions } from './challenge.ts';
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
export { hasScope, requireScopes } from './scope.ts';
export { tokenIdHash } from './token-id.ts';
export type { AccessTokenVerifier, VerifiedToken } from './verifier.ts';
