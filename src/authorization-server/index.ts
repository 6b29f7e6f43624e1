/**
 * The co-located authorization server (docs/authorization-server.md): metadata, login and consent
 * pages, authorization code with PKCE, client ID metadata documents, dynamic registration,
 * audience-bound JWT access tokens, rotating refresh tokens, revocation, introspection.
 */
export { MetadataDocumentResolver } from './clients/metadata-documents.ts';
export {
  createSigningKey,
  ensureSigningKey,
  KEY_PUBLISH_LEAD_MS,
  KeyRing,
  type RotationResult,
  rotateSigningKeys,
  type SigningAlgorithm,
} from './keys.ts';
export { generatePassword, hashPassword, verifyPassword } from './passwords.ts';
export {
  type AuthorizationServer,
  type AuthorizationServerDeps,
  createAuthorizationServer,
} from './server.ts';
export type { AuditRecorder, RequestContext } from './services.ts';
export { metadataPathsFor, PATHS } from './settings.ts';
export {
  ADMIN_PASSWORD_ENV,
  ADMIN_USERNAME,
  type AdminBootstrap,
  ensureAdminUser,
  passwordProblem,
  setUserPassword,
  usernameProblem,
} from './users.ts';
