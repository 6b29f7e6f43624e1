import { createHash } from 'node:crypto';

/**
 * The local subject of a person who signed in at an upstream provider, or who is named by a
 * provider's token (the JWT bearer grant): derived from the provider's `iss` and `sub` together
 * (OpenID Connect Core §2: `sub` is unique only within its issuer, and an email can change hands
 * or be claimed at another provider, so it never identifies anyone here). Stable across
 * sign-ins, and never equal to a local username: `:` is not allowed in those
 * (src/authorization-server/users.ts).
 */
export const FEDERATED_SUBJECT_PREFIX = 'idp:';

export function federatedSubject(issuer: string, sub: string): string {
  if (issuer === '' || sub === '') throw new TypeError('issuer and sub must not be empty');
  // Length-prefixed, so no (iss, sub) pair can be shifted into another one.
  const digest = createHash('sha256')
    .update(`${issuer.length}:${issuer}${sub.length}:${sub}`, 'utf8')
    .digest('base64url');
  return `${FEDERATED_SUBJECT_PREFIX}${digest}`;
}

export function isFederatedSubject(subject: string): boolean {
  return subject.startsWith(FEDERATED_SUBJECT_PREFIX);
}
