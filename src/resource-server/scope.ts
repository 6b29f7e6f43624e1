import { RequestError } from '../errors/index.ts';
import type { VerifiedToken } from './verifier.ts';

/**
 * Throws AuthMissingScope (403 insufficient_scope) unless the token was granted every scope in
 * `needed`. The error names all the scopes the call needs (MCP "Runtime Insufficient Scope
 * Errors"), so a client can step up in one go; the challenge builder reads `details.scope`.
 */
export function requireScopes(token: VerifiedToken, needed: string | readonly string[]): void {
  const list = typeof needed === 'string' ? [needed] : [...needed];
  const missing = list.filter((scope) => !token.scopes.includes(scope));
  if (missing.length === 0) return;
  throw new RequestError('AuthMissingScope', `the token lacks scope ${missing.join(' ')}`, {
    expose: true,
    details: { scope: list.join(' ') },
  });
}

/** True when the token was granted `scope`. */
export function hasScope(token: VerifiedToken, scope: string): boolean {
  return token.scopes.includes(scope);
}
