import type { Store } from '../store/index.ts';

/**
 * The sign-in throttle. Guessing is slowed per (person, address) with growing delays, and each
 * address has a ceiling across all names (password spraying); no stranger can lock a person out
 * from elsewhere, because nothing is counted per person alone.
 *
 * Every attempt is reserved with the store's atomic increment BEFORE the password hash runs, so
 * parallel attempts cannot all pass a check made before any of them failed (a check-then-
 * increment race around a slow hash). Successful sign-ins are counted apart and subtracted, so
 * only failed or unresolved attempts weigh.
 *
 * Per (person, address): FREE_ATTEMPTS, then the k-th further attempt needs a free slot of a
 * fixed window of DELAY(k) = 2^k seconds (capped at the window): at most one attempt per such
 * slot, a failure taking the next slot in advance, and at most one delayed attempt per base slot
 * whatever k (a burst reserves consecutive k values at once).
 */
export const THROTTLE = {
  windowMs: 15 * 60_000,
  freeAttempts: 5,
  baseDelayMs: 2000,
  /** Failed or unresolved attempts from one address, all names together, per window. */
  perAddress: 20,
} as const;

export type ThrottleDecision =
  | { readonly allowed: true; readonly attempt: number }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

const delayMs = (excess: number) =>
  Math.min(THROTTLE.baseDelayMs * 2 ** Math.min(excess - 1, 20), THROTTLE.windowMs);

const secondsLeft = (windowMs: number, now: number) =>
  Math.max(1, Math.ceil((windowMs - (now % windowMs)) / 1000));

export class LoginThrottle {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  #keys(username: string, address: string | undefined) {
    // JSON keeps a name containing the separator from colliding with another pair.
    const pair = `login:pair:${JSON.stringify([username, address ?? ''])}`;
    const from = `login:address:${JSON.stringify(address ?? '')}`;
    return { pair, from };
  }

  /** Reserves an attempt; call `failed` or `succeeded` once the password was checked. */
  async admit(
    username: string,
    address: string | undefined,
    now: number,
  ): Promise<ThrottleDecision> {
    const { windowMs, baseDelayMs } = THROTTLE;
    const { pair, from } = this.#keys(username, address);
    const fromWeighing = await this.#reserve(from, now);
    if (fromWeighing > THROTTLE.perAddress) return this.#refuse([from], windowMs, now);
    const weighing = await this.#reserve(pair, now);
    const excess = weighing - THROTTLE.freeAttempts;
    if (excess > 0) {
      const delay = delayMs(excess);
      if ((await this.#store.incrementCounter(`${pair}:slot:${delay}`, delay, now)) > 1) {
        return this.#refuse([from, pair], delay, now);
      }
      if ((await this.#store.incrementCounter(`${pair}:base`, baseDelayMs, now)) > 1) {
        return this.#refuse([from, pair], baseDelayMs, now);
      }
    }
    return { allowed: true, attempt: weighing };
  }

  /**
   * Counts one more attempt for `key` and returns how many weigh: reserved, minus those that
   * succeeded and those refused (so waiting out a delay does not itself make the next longer).
   */
  async #reserve(key: string, now: number): Promise<number> {
    const { windowMs } = THROTTLE;
    const reserved = await this.#store.incrementCounter(`${key}:n`, windowMs, now);
    const ok = await this.#store.readCounter(`${key}:ok`, windowMs, now);
    const refused = await this.#store.readCounter(`${key}:refused`, windowMs, now);
    return reserved - ok - refused;
  }

  async #refuse(
    keys: readonly string[],
    waitWindowMs: number,
    now: number,
  ): Promise<ThrottleDecision> {
    for (const key of keys) {
      await this.#store.incrementCounter(`${key}:refused`, THROTTLE.windowMs, now);
    }
    return { allowed: false, retryAfterSeconds: secondsLeft(waitWindowMs, now) };
  }

  /** A failure from the free allowance on takes the next delay's current slot. */
  async failed(username: string, address: string | undefined, attempt: number, now: number) {
    const next = attempt + 1 - THROTTLE.freeAttempts;
    if (next <= 0) return;
    const delay = delayMs(next);
    await this.#store.incrementCounter(
      `${this.#keys(username, address).pair}:slot:${delay}`,
      delay,
      now,
    );
  }

  async succeeded(username: string, address: string | undefined, now: number): Promise<void> {
    const { pair, from } = this.#keys(username, address);
    await this.#store.incrementCounter(`${pair}:ok`, THROTTLE.windowMs, now);
    await this.#store.incrementCounter(`${from}:ok`, THROTTLE.windowMs, now);
  }
}
