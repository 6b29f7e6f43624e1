/**
 * A bounded map with least-recently-used eviction and a per-entry deadline. Map iteration order
 * is insertion order, so re-inserting on a hit keeps the oldest entry first.
 */
export class LruCache<V> {
  readonly #max: number;
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(maxEntries: number) {
    this.#max = Math.max(0, Math.floor(maxEntries));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value stored under `key` if its deadline (ms) is after `now`. */
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.until <= now) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `until` (ms). A cache of size 0 stores nothing. */
  set(key: string, value: V, until: number): void {
    if (this.#max === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, until });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
