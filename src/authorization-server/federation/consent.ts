import type { PendingAuthorization } from '../pending-authorization.ts';
import type { Exchange } from '../services.ts';

/**
 * A request narrowed to the scopes the provider's claim rules allowed the person at their latest
 * sign-in (a local user's request is unchanged). The consent page shows, and the code carries,
 * only what is left.
 */
export async function narrowForFederated(
  exchange: Exchange,
  subject: string,
  pending: PendingAuthorization,
): Promise<PendingAuthorization> {
  const identity = await exchange.services.store.getFederatedIdentity(subject);
  if (identity === undefined) return pending;
  const allowed = new Set(identity.allowedScopes);
  return { ...pending, scopes: pending.scopes.filter((scope) => allowed.has(scope)) };
}

/**
 * How the consent and account pages name the person: a federated subject is an opaque hash, so
 * they show what the provider said (email, preferred username or name) and the provider.
 */
export async function personLabel(exchange: Exchange, subject: string): Promise<string> {
  const identity = await exchange.services.store.getFederatedIdentity(subject);
  if (identity === undefined) return subject;
  const provider = exchange.services.federation?.get(identity.provider);
  const who = identity.label ?? identity.providerSubject;
  return `${who} (${provider?.displayName ?? identity.provider})`;
}
