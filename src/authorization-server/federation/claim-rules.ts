import type { ClaimRule } from '../../config/schema.ts';

/** Claims as an ID token (or a user-info answer) carries them. */
export type Claims = Readonly<Record<string, unknown>>;

/** Whether one rule's test holds for the claims. A missing claim never matches. */
export function ruleMatches(rule: ClaimRule, claims: Claims): boolean {
  const value = claims[rule.claim];
  if (value === undefined || value === null) return false;
  // An address the provider has not verified is whatever the person typed (OpenID Connect Core
  // §5.1): it grants nothing.
  if (rule.claim === 'email' && claims.email_verified === false) return false;
  if (rule.equals !== undefined) return value === rule.equals;
  if (rule.contains !== undefined) {
    if (Array.isArray(value)) return value.some((item) => item === rule.contains);
    return typeof value === 'string' && value.includes(rule.contains);
  }
  if (rule.ends_with !== undefined) {
    // Case-insensitive: email domains and host names are (RFC 5321 §2.4, RFC 4343).
    return typeof value === 'string' && value.toLowerCase().endsWith(rule.ends_with.toLowerCase());
  }
  return false;
}

/**
 * The scopes a person may be granted: without rules, every allowed scope; with rules, the union
 * of the scopes of the rules the person matches, within the allowed ones. An empty result means
 * the person gets no token at all.
 */
export function scopesPermitted(
  rules: readonly ClaimRule[] | undefined,
  claims: Claims,
  allowedScopes: readonly string[],
): string[] {
  if (rules === undefined) return [...allowedScopes];
  const granted = new Set<string>();
  for (const rule of rules) {
    if (ruleMatches(rule, claims)) for (const scope of rule.scopes) granted.add(scope);
  }
  return allowedScopes.filter((scope) => granted.has(scope));
}
