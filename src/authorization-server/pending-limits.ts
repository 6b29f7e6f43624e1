import type { Store } from '../store/index.ts';
import { LIMITS } from './settings.ts';

/**
 * Bounds on pending authorization requests, which anyone can create without signing in and
 * which each hold up to a 4 KB `state` for the interaction lifetime: a share per address and a
 * ceiling for the whole server, both over one interaction lifetime, so the store cannot be
 * filled from one address, nor without limit from many.
 */
export const PENDING_LIMITS = {
  perAddress: 60,
  total: 20_000,
} as const;

/** Reserves room for one more pending request; undefined when admitted, else the wait in seconds. */
export async function admitPendingAuthorization(
  store: Store,
  address: string | undefined,
  now: number,
): Promise<number | undefined> {
  const window = LIMITS.interactionTtlMs;
  const wait = Math.max(1, Math.ceil((window - (now % window)) / 1000));
  const fromAddress = await store.incrementCounter(
    `authorize:pending:${JSON.stringify(address ?? '')}`,
    window,
    now,
  );
  if (fromAddress > PENDING_LIMITS.perAddress) return wait;
  const total = await store.incrementCounter('authorize:pending:*', window, now);
  return total > PENDING_LIMITS.total ? wait : undefined;
}
