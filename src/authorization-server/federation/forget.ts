import type { Store } from '../../store/index.ts';

/**
 * Drops the person's kept provider tokens (sign-out, consent withdrawn, grants revoked): from
 * then on no upstream gets a credential for them until they sign in at the provider again.
 */
export async function forgetProviderTokens(
  store: Store,
  subject: string,
  now: number,
): Promise<boolean> {
  const identity = await store.getFederatedIdentity(subject);
  if (identity?.sealedTokens === undefined) return false;
  return store.replaceProviderTokens(subject, identity.sealedTokens, undefined, now);
}

/**
 * The provider ended the person's grant (a refresh answered invalid_grant): every grant they
 * gave a client here ends too, and their provider tokens are dropped.
 */
export async function endGrantsOf(store: Store, subject: string, now: number): Promise<number> {
  await forgetProviderTokens(store, subject, now);
  let revoked = 0;
  for (const consent of await store.listConsents(subject)) {
    revoked += await store.revokeGrantsFor(subject, consent.clientId, now);
  }
  return revoked;
}
