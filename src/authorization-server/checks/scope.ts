import { RequestError } from '../../errors/index.ts';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Parses a scope parameter; undefined when absent. Malformed lists are `invalid_scope`. */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const tokens = value.split(' ');
  if (tokens.some((token) => !SCOPE_TOKEN.test(token))) {
    throw new RequestError(
      'OAuthInvalidScope',
      'scope must be scope tokens separated by single spaces',
    );
  }
  return [...new Set(tokens)];
}

/**
 * Requested scopes must lie within what is allowed (RFC 6749 §3.3); when none are requested the
 * allowed set is the default. Membership is exact string equality.
 */
export function checkScopesWithin(
  requested: readonly string[] | undefined,
  allowed: readonly string[],
  what: string,
): string[] {
  if (requested === undefined) return [...allowed];
  const outside = requested.filter((scope) => !allowed.includes(scope));
  if (outside.length > 0) {
    throw new RequestError('OAuthInvalidScope', `${outside.join(' ')} not within ${what}`);
  }
  return [...requested];
}
