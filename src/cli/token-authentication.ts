import type { LoadedConfig } from '../config/index.ts';
import type { TokenAuthentication } from '../proxy/index.ts';

/**
 * Token verification for `auth: oauth`: the JWT/JWKS verifier, the Authorization-header parser,
 * the challenge builder and the protected resource metadata builder from src/resource-server.
 * Until they are wired in here, this returns undefined and `serve` refuses `auth: oauth`
 * (exit 1) rather than serve unauthenticated.
 */
export function tokenAuthenticationFor(_loaded: LoadedConfig): TokenAuthentication | undefined {
  return undefined;
}
